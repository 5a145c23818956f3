"""Split a plain-text mail body into zones: the author's new text, quoted earlier mail,
signature and legal/unsubscribe boilerplate.

Later NLP must only look at what the sender wrote themselves, so :func:`split_zones` separates

* ``new_text`` -- the author's own text, greeting and sign-off included
  (:func:`greeting_span` / :func:`signoff_span` tell a caller where they are);
* ``quoted`` -- every quoted or forwarded earlier message: ``>`` lines with their
  ``On ... wrote:`` attribution, Outlook ``-----Original Message-----`` blocks and bare
  ``From:/Sent:/To:/Subject:`` header blocks, Lotus Notes ``Forwarded by`` lines and Notes reply
  headers (``Jane Doe <jane@example.com> on 04/02/2001 05:12 PM`` + ``To:/cc:/Subject:``),
  ``Begin forwarded message:``, ``---------- Forwarded message ---------``;
* ``signature`` -- after a ``-- `` line, or a trailing short name/title/phone/address block
  (``Sent from my iPhone`` included);
* ``boilerplate`` -- confidentiality / legal notices and unsubscribe / mailing-list footers;
* ``quoted_headers`` -- the parsed header of every quoted or forwarded message, in text order.

Zones keep the original lines (``quoted`` keeps its ``>`` prefixes); line ends come back as
``\n``.  Once a hard marker (an Original Message line, a forward, a header block, an attribution
not followed by ``>`` lines) is met outside ``>`` quotes, everything after it is quoted; ``>``
lines interleaved with the author's answers (inline replies) are quoted line by line.

It is built for a mail sync that zones thousands of bodies a second: one forward pass over the
lines with precompiled regexes (bounded or possessive quantifiers, nothing that backtracks
catastrophically) and a few bounded look-arounds, then one pass each for boilerplate and
signature, on at most ``max_chars`` characters.  The boilerplate pass first looks, in the raw lines,
for what any notice needs (a trigger word, a literal of a pattern); what each line holds is cached by
the line's text (mail repeats its lines), so most runs of lines cost a few look-ups.  It never raises.

Heuristic limits: a trailing signature without ``-- `` is found only after a sign-off line or when
it carries a phone / e-mail / URL / address / "Sent from" line (or a name plus a title or company);
a quoted message pasted without any marker, header or ``>`` stays new text; a bare
``From:/Sent:/Subject:`` block typed by the author is taken for a quote; boilerplate is found by
English, French and German legal / unsubscribe phrases only.
"""

from __future__ import annotations

import operator
import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, compress, repeat

__all__ = ["QuotedHeader", "Zones", "greeting_span", "new_text", "signoff_span", "split_zones"]


@dataclass(frozen=True, slots=True)
class QuotedHeader:
    """Parsed header of a quoted or forwarded earlier message.

    ``kind`` is ``"original"`` (``-----Original Message-----``, a bare Outlook
    ``From:/Sent:/To:/Subject:`` block or a Lotus Notes reply header), ``"wrote"``
    (``On ..., X wrote:`` and its other-language forms), ``"forwarded"`` (``Forwarded by ...``,
    ``Begin forwarded message:``, ``---------- Forwarded message ---------``) or ``"quote"``
    (``>`` lines with no attribution or header of their own).
    """

    sender: str | None
    sender_address: str | None
    sent: str | None
    subject: str | None
    kind: str


@dataclass(frozen=True, slots=True)
class Zones:
    """The zones of one mail body (each stripped of leading/trailing blank space)."""

    new_text: str
    quoted: str
    signature: str
    boilerplate: str
    quoted_headers: tuple[QuotedHeader, ...]


def _words(text: str, sep: str | None = None) -> frozenset[str]:
    """A word set written as one string (``sep=None``: split on white space)."""
    return frozenset(text.split(sep))


# --------------------------------------------------------------------------------------------
# Line labels
_NEW = 0
_QUOTED = 1
_SIG = 2
_BOILER = 3
_DROP = 4  # the "-- " signature separator itself

# --------------------------------------------------------------------------------------------
# Quote markers (all matched with .match() against the stripped line content)

_ORIGINAL_RE = re.compile(
    r"[-_=*]{2,}+[ \t]*+(?:original[ \t]+message|original[ \t]+message[ \t]+follows|reply[ \t]+message"
    r"|urspr[üu]ngliche[ \t]+nachricht|message[ \t]+d'origine|mensaje[ \t]+original"
    r"|messaggio[ \t]+originale|oorspronkelijk[ \t]+bericht|mensagem[ \t]+original"
    r"|originalmeddelande|opprinnelig[ \t]+melding)\b",
    re.IGNORECASE,
)
_FORWARD_DASH_RE = re.compile(
    r"[-_=*]{2,}+[ \t]*+(?:forwarded[ \t]+by\b|forwarded[ \t]+message|forwarded[ \t]+mail"
    r"|weitergeleitete[ \t]+nachricht|message[ \t]+transf[ée]r[ée]|mensaje[ \t]+reenviado"
    r"|messaggio[ \t]+inoltrato|doorgestuurd[ \t]+bericht|mensagem[ \t]+encaminhada"
    r"|videresendt[ \t]+melding|vidarebefordrat[ \t]+meddelande)",
    re.IGNORECASE,
)
_FORWARD_TEXT_RE = re.compile(
    r"(?:begin[ \t]+forwarded[ \t]+message|d[ée]but[ \t]+du[ \t]+message[ \t]+r[ée]exp[ée]di[ée]"
    r"|anfang[ \t]+der[ \t]+weitergeleiteten[ \t]+nachricht|inicio[ \t]+del[ \t]+mensaje[ \t]+reenviado"
    r"|inizio[ \t]+messaggio[ \t]+inoltrato|begin[ \t]+doorgestuurd[ \t]+bericht)[ \t]*:?[ \t]*$",
    re.IGNORECASE,
)

_FORWARD_TEXT_STARTS = frozenset(("beg", "déb", "deb", "anf", "ini"))
_FORWARD_FIRST = frozenset("bBdDaAiI")  # the characters whose lower case starts one of those
# first characters of the lines _detect may take for a marker without a ":" near their start or end:
# "-----Original Message-----" and other dash markers, "On ... / ... wrote:" attribution starts
_DETECT_FIRST = frozenset("-_=*OALEIWDPK")
_DASH_FIRST = frozenset("-_=*")
_ATTR_FIRST = _DETECT_FIRST - _DASH_FIRST  # of _ATTR_START_RE's words

# Attribution lines: "On <date>, Jane Doe <jane@example.com> wrote:" and friends.
_ATTR_START_RE = re.compile(r"(?:On|At|Le|Am|El|Il|Op|Em|W[ \t]+dniu|Den|Dne|P[åa]|Kom)\b")
_WROTE_RE = re.compile(
    r"(?P<pre>.*)(?<![\w])(?P<verb>wrote|writes|has[ \t]+written|a[ \t]+[ée]crit|schrieb|escribi[óo]"
    r"|ha[ \t]+scritto|scrisse|schreef|escreveu|napisa[łl]a?|skrev|kirjoitti|napsal|[íi]rta)"
    r"(?![\w])(?P<post>[^:]{0,160}?)[ \t]*:[ \t]*$",
    re.IGNORECASE,
)
# last date/time anchor inside an attribution: the sender follows it
_ATTR_ANCHOR_RE = re.compile(
    r"\b\d{1,2}[:.h]\d{2}(?::\d{2})?(?:[ \t]*[AaPp]\.?[ \t]?[Mm]\.?)?"
    r"|\b(?:19|20)\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b"
)
_ATTR_TZ_RE = re.compile(
    r"(?:\(?(?:GMT|UTC)?[+-]\d{2}:?\d{2}\)?|(?:GMT|UTC|[A-Z]{1,3}[SD]T|CET|CEST|BST|IST)\b)[ \t,]*"
)

# Header block fields ("From:", "Sent:", ...), optionally bold-marked "*From:*".
_FIELD_RE = re.compile(
    r"\*?(from|sent[ \t]+by|sent|date|to|cc|bcc|subject|subj|reply-to|importance|priority|sensitivity"
    r"|attachments|de|von|van|da|envoy[ée]|gesendet|datum|enviado(?:[ \t]+el)?|inviato|verzonden"
    r"|data|[àa]|an|para|aan|kopie|copie|cci|cco|objet|betreff|asunto|oggetto|onderwerp|assunto)"
    r"\*?[ \t]*:\*?[ \t]*(.*)",
    re.IGNORECASE,
)
_FIELD_CANON: dict[str, str] = {
    "from": "from",
    "de": "from",
    "von": "from",
    "van": "from",
    "da": "from",
    "sent": "sent",
    "envoyé": "sent",
    "envoye": "sent",
    "gesendet": "sent",
    "enviado": "sent",
    "enviado el": "sent",
    "inviato": "sent",
    "verzonden": "sent",
    "data": "sent",
    "date": "date",
    "datum": "date",
    "to": "to",
    "à": "to",
    "a": "to",
    "an": "to",
    "para": "to",
    "aan": "to",
    "cc": "cc",
    "kopie": "cc",
    "copie": "cc",
    "bcc": "bcc",
    "cci": "bcc",
    "cco": "bcc",
    "subject": "subject",
    "subj": "subject",
    "objet": "subject",
    "betreff": "subject",
    "asunto": "subject",
    "oggetto": "subject",
    "onderwerp": "subject",
    "assunto": "subject",
    "sent by": "sent by",
    "reply-to": "other",
    "importance": "other",
    "priority": "other",
    "sensitivity": "other",
    "attachments": "other",
}
_WS_RUN_RE = re.compile(r"[ \t]+")
# "> ", ">>", "> > >", ">    >" quote prefixes (one optional space after the last ">")
_QUOTE_PREFIX_RE = re.compile(r"[ \t]*+>(?:[ \t]*+>)*+ ?")

# Lotus Notes date in a header preamble: "04/02/2001 05:12:44 PM", "18/05/2001 08:03", "10/05/01"
_NOTES_DATE_RE = re.compile(
    r"\b\d{1,2}/\d{1,2}/\d{2,4}(?:[ \t]+\d{1,2}:\d{2}(?::\d{2})?(?:[ \t]*[AaPp][Mm])?)?(?:[ \t]+[A-Z]{3}\b)?"
)
_NOTES_BARE_DATE_RE = re.compile(
    r"\d{1,2}/\d{1,2}/\d{2,4}(?:[ \t]+\d{1,2}:\d{2}(?::\d{2})?(?:[ \t]*[AaPp][Mm])?)?"
    r"(?:[ \t]+[A-Z]{3})?[ \t]*$"
)
_NOTES_TIME_ONLY_RE = re.compile(r"(?:\d{1,2}:\d{2}(?::\d{2})?[ \t]*)?[AaPp][Mm][ \t]*$")
_NOTES_ADDRESS_RE = re.compile(
    r"[^\s@]+(?:[ \t]+[^\s@]+){0,4}@[A-Za-z][\w-]*(?:[ \t]+[A-Za-z][\w-]*){0,2}[ \t]*$"
)
_NOTES_SKIP_RE = re.compile(r"(?:please[ \t]+respond[ \t]+to|sent[ \t]+by)\b", re.IGNORECASE)
_PREAMBLE_NOISE_RE = re.compile(r"\(embedded image|<<|\[image\]", re.IGNORECASE)
_MIDLINE_FROM_RE = re.compile(r"\bFrom:[ \t]*", re.IGNORECASE)
_NOTES_ON_DATE_TAIL_RE = re.compile(r"[ \t]+on[ \t]*$", re.IGNORECASE)

_EMAIL_RE = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")

# A line of only separator characters ("-----", "_____", "*****", "=====").
_SEPARATOR_RE = re.compile(r"(?:[-_=*~#+.][ \t]*+){3,}+$")
_SEPARATOR_FIRST = frozenset("-_=*~#+.")
# "inal Message-----": an Original Message marker whose start got lost
_BROKEN_MARKER_RE = re.compile(r"[^\n]{0,30}message[ \t]*-{3,}+[ \t]*+$", re.IGNORECASE)
_STARS_FRAME_RE = re.compile(r"[*=#~]{5,}+[ \t]*+$")

# --------------------------------------------------------------------------------------------
# Boilerplate (searched in runs of new-text lines, whitespace collapsed, lower-cased)

_BOILER_PATTERNS = [
    r"intended (?:only |solely |exclusively )?for (?:the )?(?:(?:sole|exclusive"
    r"|personal) )?(?:use of )?(?:the )?"
    r"(?:individual|person|entity|entities|addressee|named|recipient|intended|above)",
    r"(?:sole|exclusive) use of the (?:intended )?(?:individual|recipient|addressee|person|entity)",
    r"not the (?:intended|named) (?:recipient|addressee)",
    r"(?:received|receive|get|got) (?:this|the) (?:e-?mail |message |communication |transmission "
    r"|information )?"
    r"(?:\([^)\n]{0,40}\) )?(?:in|by) (?:error|mistake)",
    r"(?:disclosure|distribution|dissemination|copying|forwarding|duplication)[^.\n]{0,120}(?:is|are|be) "
    r"(?:strictly )?prohibited",
    r"^(?:(?:confidentiality|privileged|legal|important|e-?mail|privacy) )?(?:notice|disclaimer"
    r"|warning)\s*[:\-]",
    r"^disclaimer\b",
    r"^confidential(?:ity)? (?:notice|note|statement|warning|footer)",
    r"^privileged (?:and|&) confidential",
    r"confidentiality (?:notice|footer|statement|disclaimer)",
    r"\bthis (?:electronic )?(?:e-?mail|message|communication|transmission)(?: and (?:any )?attachments)?"
    r"[^\n]{0,140}?(?:confidential|privileged)",
    r"make changes to your [^.\n]{0,30}profile|(?:update|manage|edit) your (?:e-?mail|subscriber"
    r"|subscription) profile",
    r"^(?:this|the) (?:electronic )?(?:e-?mail|email message|message|communication|transmission|fax)"
    r"(?: \([^)\n]{0,60}\))?(?:,? (?:and|including|together with) any (?:files|attachments"
    r"|documents)[^.\n]{0,60}?)?,?"
    r" (?:is|are|may be|may contain|contains?|and any)[^.\n]{0,40}(?:confidential|privileged|proprietary)",
    r"information (?:contained )?in this (?:e-?mail|message|communication|transmission|newsletter|fax)"
    r"[^.\n]{0,80}(?:confidential|privileged|intended|proprietary)",
    r"(?:this|the) e-?mail is the property of",
    r"(?:notify|inform|contact) the sender[^.\n]{0,100}(?:delete|destroy)",
    r"(?:consider the environment|think of the environment|think before) (?:before )?print",
    r"(?:e-?mail|message) (?:has been|was) (?:scanned|checked)[^.\n]{0,40}virus",
    r"(?:ce (?:message|courriel|mail)|ce e-?mail)[^.\n]{0,120}(?:confidentiel|destin[ée]s? exclusivement"
    r"|[àa] l'intention exclusive)",
    r"si vous (?:n'[êe]tes pas|(?:avez re[çc]u|recevez) ce (?:message|courriel) par erreur)",
    r"diese (?:e-?mail|nachricht)[^.\n]{0,80}(?:vertraulich|rechtlich gesch[üu]tzt)",
    r"nicht der (?:richtige|beabsichtigte) (?:adressat|empf[äa]nger)|irrt[üu]mlich erhalten",
    r"^(?:to|want to|how to|wish to) unsubscribe\b",
    r"\bto unsubscribe\b[^.\n]{0,60}(?:click|reply|send|visit|go to|follow|log ?in|access|forward|see"
    r"|here|link|http|instructions)",
    r"\bunsubscribe (?:here|link|instructions|below)\b",
    r"^unsubscribe\s*:",
    r"click (?:here|below|the link|on the link)[^.\n]{0,40}(?:unsubscribe|be removed|opt[- ]out)",
    r"to be removed from (?:our|this|the|any|future)\b",
    r"no longer (?:wish|want|would like|care) to receive",
    r"(?:manage|update|change|edit) your (?:e-?mail |subscription |notification |mailing )?"
    r"(?:preferences|subscriptions?|settings)",
    r"mailman/listinfo",
    r"view (?:this|it|this e-?mail) in (?:your|a) (?:web )?browser",
    r"all rights reserved",
    r"get your (?:free|private)[^.\n]{0,60}(?:download|e-?mail|msn|hotmail|yahoo)",
    r"do you yahoo!?\?",
    r"(?:msn|hotmail)[^.\n]{0,60}(?:https?://|www\.)",
]
# an automated notification's own first paragraph is its content, not a footer
_BOILER_NOTFIRST = (
    r"you (?:are |were )?receiv(?:ing|ed) this (?:e-?mail |message |newsletter |notification |alert )?because"
)
_BOILER_STRONG_SRC = "|".join(_BOILER_PATTERNS) + f"|(?P<notfirst>{_BOILER_NOTFIRST})"
# The patterns are lower case and run on lower-cased text: re.IGNORECASE with non-ASCII letters in
# a pattern is ten times slower.  The IGNORECASE twins serve texts whose length lower() changes.
_BOILER_STRONG_RE = re.compile(_BOILER_STRONG_SRC, re.MULTILINE)
_BOILER_STRONG_CI_RE = re.compile(_BOILER_STRONG_SRC, re.MULTILINE | re.IGNORECASE)
# The same alternatives one by one, each with the literals (lower case) one of which every match of
# it holds: an alternative whose literals are all missing from a window cannot match there, and the
# others run on their own (far faster than the whole alternation, which tries every alternative at
# every position).  Same order as _BOILER_PATTERNS, then "notfirst".
_BOILER_LITERALS: tuple[tuple[str, ...], ...] = (
    ("intended",),
    ("use of the",),
    ("not the ",),
    ("error", "mistake"),
    ("prohibited",),
    ("notice", "disclaimer", "warning"),
    ("disclaimer",),
    ("confidential",),
    ("privileged",),
    ("confidentiality",),
    ("confidential", "privileged"),
    ("profile",),
    ("confidential", "privileged", "proprietary"),
    ("information ",),
    ("property of",),
    ("the sender",),
    ("print",),
    ("virus",),
    ("confidentiel", "exclusiv"),
    ("si vous",),
    ("diese ",),
    ("nicht der ", "mlich erhalten"),
    ("unsubscribe",),
    ("unsubscribe",),
    ("unsubscribe ",),
    ("unsubscribe",),
    ("click ",),
    ("to be removed from ",),
    ("no longer ",),
    ("preferences", "subscription", "settings"),
    ("mailman/listinfo",),
    ("browser",),
    ("all rights reserved",),
    ("get your ",),
    ("do you yahoo",),
    ("msn", "hotmail"),
    ("because",),
)
_BOILER_PARTS: tuple[tuple[re.Pattern[str], tuple[str, ...], bool], ...] = tuple(
    (re.compile(src, re.MULTILINE), literals, notfirst)
    for src, literals, notfirst in zip(
        [*_BOILER_PATTERNS, _BOILER_NOTFIRST],
        _BOILER_LITERALS,
        [False] * len(_BOILER_PATTERNS) + [True],
        strict=True,
    )
)


# Every strong pattern holds one of these words; the strong patterns only run near them.
_BOILER_TRIGGERS = tuple(
    sorted(
        _words(
            "intended|recipient|addressee|in error|by mistake|prohibited|disclaim|notice|warning|confidential"
            "|privileged|proprietary|property of|sender|before print|virus|exclusive|sole use|erreur"
            "|vertraulich|empfänger|empfanger|adressat|rechtlich|irrtümlich|irrtumlich|unsubscribe|removed"
            "|opt-out|opt out|no longer|receiving this|received this|preferences|settings|subscription"
            "|listinfo|browser|rights reserved|get your|yahoo|msn|hotmail|profile",
            sep="|",
        )
    )
)
# one white-space free word of every trigger: a run without any of them has no trigger either
_BOILER_GATE_WORD = {"before print": "print", "get your": "get"}
_BOILER_GATE = tuple(
    sorted({_BOILER_GATE_WORD.get(w) or max(w.replace("-", " ").split(), key=len) for w in _BOILER_TRIGGERS})
)
# (trigger, its gate word): a run that lacks the gate word lacks the trigger
_BOILER_TRIGGER_GATES = tuple(
    (w, _BOILER_GATE_WORD.get(w) or max(w.replace("-", " ").split(), key=len)) for w in _BOILER_TRIGGERS
)
_BOILER_WINDOW = 260
# Between two words of a run's text, its raw lines have white space and maybe separator-line characters.
_RAW_GAP = r"[\s\-_=*~#+.]+"


def _raw_regex(text: str) -> re.Pattern[str]:
    """Matches a run's raw lines (lower case) wherever ``text`` (lower case) is in the run's text."""
    return re.compile(_RAW_GAP.join(re.escape(word) for word in text.split(" ")).replace(_RAW_GAP * 2, _RAW_GAP))


# the triggers without a space, and those with one as regexes on a run's raw lines
_BOILER_TRIGGERS_WORD = tuple((w, gate) for w, gate in _BOILER_TRIGGER_GATES if " " not in w)
_BOILER_TRIGGERS_SPACED = tuple((_raw_regex(w), gate) for w, gate in _BOILER_TRIGGER_GATES if " " in w)

# For some strong alternatives (index into _BOILER_PARTS), strings one of which every match of it holds
# (in the run's text, so as _raw_regex in its raw lines): these alternatives hold common words ("notice",
# "exclusive").
_BOILER_PART_TEXTS: dict[int, tuple[str, ...]] = {
    0: ("intended for", "intended only for", "intended solely for", "intended exclusively for"),
    1: ("sole use of the", "exclusive use of the"),
    2: ("not the intended", "not the named"),
    3: ("in error", "by error", "in mistake", "by mistake"),
    5: tuple(f"{w}{gap}{c}" for w in ("notice", "disclaimer", "warning") for gap in ("", " ") for c in ":-"),
    7: tuple(
        f"{w} {n}"
        for w in ("confidential", "confidentiality")
        for n in ("notice", "note", "statement", "warning", "footer")
    ),
    9: tuple(f"confidentiality {n}" for n in ("notice", "footer", "statement", "disclaimer")),
    10: ("this e-mail", "this email", "this message", "this communication", "this transmission", "this electronic"),
    11: ("changes to your", "update your", "manage your", "edit your"),
    13: ("information in this", "information contained in this"),
    15: ("notify the sender", "inform the sender", "contact the sender"),
    16: ("environment print", "environment before print", "think before print", "think before before print"),
    17: ("has been scanned", "has been checked", "was scanned", "was checked"),
    18: ("ce message", "ce courriel", "ce mail", "ce email", "ce e-mail"),
    20: ("diese email", "diese e-mail", "diese nachricht"),
    26: ("click here", "click below", "click the link", "click on the link"),
    28: tuple(f"no longer {w} to receive" for w in ("wish", "want", "would like", "care")),
    29: ("manage your", "update your", "change your", "edit your"),
    31: ("view this", "view it"),
    33: ("get your free", "get your private"),
    36: ("receiving this", "received this"),
}
_BOILER_RAW_PARTS = {k: (texts, tuple(map(_raw_regex, texts))) for k, texts in _BOILER_PART_TEXTS.items()}
# the strong alternatives by literal: those without a space (looked up among a run's line needles) and the
# others (as regexes on its raw lines, looked for when their longest word is among the needles)
_BOILER_BY_LITERAL: dict[str, list[int]] = {}
for _k, _literals in enumerate(_BOILER_LITERALS):
    for _literal in _literals:
        _BOILER_BY_LITERAL.setdefault(_literal, []).append(_k)
del _k, _literals, _literal
_BOILER_BY_WORD = {lit: tuple(ks) for lit, ks in _BOILER_BY_LITERAL.items() if " " not in lit}
_BOILER_BY_SPACED = tuple(
    (lit, _raw_regex(lit), max(lit.split(), key=len), tuple(ks))
    for lit, ks in _BOILER_BY_LITERAL.items()
    if " " in lit
)
_BOILER_WORD_LITERALS = tuple(sorted({*_BOILER_BY_WORD, *(entry[2] for entry in _BOILER_BY_SPACED)}))
# per line text: the gate words in it, and the _BOILER_WORD_LITERALS in it (see _needles_in)
_LINE_CACHE_SIZE = 30_000
_LINE_GATE: dict[str, frozenset[str]] = {}
_GATE_NEEDLES = tuple(sorted({*_BOILER_GATE, *(w for w, _ in _BOILER_TRIGGERS_WORD)}))
_LINE_LITERALS: dict[str, frozenset[str]] = {}
_NO_NEEDLES: frozenset[str] = frozenset()


_BOILER_WEAK_RE = re.compile(
    r"confidential|privileged|disclaim|liab(?:le|ility)|virus|recipient|addressee|prohibited|subscri|unauthori"
    r"|\bdelete|\bnotify|\bsender\b|\blegal|\bthank you\b|e-?mail address|mailing list|dissemination"
    r"|distribution"
    r"|copying|disclos|in error|hereby|intended|strictly|integrity|confidentiel|vertraulich|destinataire"
    r"|responsabilit|empf[äa]nger|information contained|postmaster|administrator|interdit|destinataire",
    re.IGNORECASE,
)
_BOILER_WEAK_BACK_RE = re.compile(
    r"confidential|privileged|disclaim|information contained in this|legal notice|important notice"
    r"|confidentiel|vertraulich|(?:this|the) (?:e-?mail|message|transmission|communication) (?:and any"
    r"|is|may|contains)",
    re.IGNORECASE,
)

# --------------------------------------------------------------------------------------------
# Signature features

_MOBILE_RE = re.compile(
    r"(?:sent (?:from|via|using|with) (?:my|a|the) \S|sent from (?:yahoo|mail for|outlook|gmail|aol"
    r"|samsung|iphone"
    r"|ipad|android|blackberry|windows)|get outlook for \S|envoy[ée] de mon|von meinem \S+ gesendet"
    r"|enviado desde mi|inviato da)",
    re.IGNORECASE,
)
_PHONE_RE = re.compile(
    r"(?<![\w/])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,5}\)[ .-]?)?\d{2,5}[ .-]\d{3,4}(?:[ .-]\d{2,4})?(?![\w/])"
    r"|\b(?:x|ext\.?|extension)[ \t]?\d[\d-]{2,6}\b",
    re.IGNORECASE,
)
_PHONE_LABEL_RE = re.compile(
    r"(?:tel|phone|ph|fax|cell|mobile|mob|direct|dir|office|work|home|main|t|f|m|p|o|c|d|w|e)[ \t]*[.:\])]"
    r"|\((?:o|c|m|f|w|h)\)",
    re.IGNORECASE,
)
_URL_RE = re.compile(
    r"(?:https?://|www\.)\S+|\b[\w-]+\.(?:com|org|net|edu|gov|io|biz|info|co\.uk|de|fr)\b", re.IGNORECASE
)
_URL_ONLY_RE = re.compile(r"<?(?:https?://|www\.)\S+>?")
_TITLE_RE = re.compile(
    r"\b(?:director|manager|president|vp|svp|evp|avp|vice president|analyst|coordinator|officer|engineer"
    r"|counsel"
    r"|specialist|associate|partner|consultant|assistant|executive|head of|ceo|cfo|cto|coo|cmo|chief|editor"
    r"|reporter|correspondent|journalist|writer|producer|professor|ph\.?d|founder|co-founder|chair(?:man|woman)?"
    r"|secretary|attorney|lawyer|administrator|representative|strategist|principal|trader|economist"
    r"|advis[eo]r|supervisor|intern|owner|communications|public relations|marketing|media relations"
    r"|spokes(?:person|man|woman)|account)\b",
    re.IGNORECASE,
)
_COMPANY_RE = re.compile(
    r"\b(?:Inc|Corp|LLC|Ltd|L\.P|LP|LLP|GmbH|AG|PLC|plc|S\.A|SA|Co|NV|BV|Pty)\b\.?"
    r"|\b(?i:corporation|company|group|partners|associates|university|institute|agency|foundation)\b"
)
_ADDRESS_RE = re.compile(
    r"\b\d{1,5}[ \t]+(?:[A-Za-z0-9.'-]+[ \t]+){1,4}(?:st|street|ave|avenue|rd|road|blvd|boulevard|dr"
    r"|drive|ln|lane"
    r"|way|plaza|square|sq|court|ct|pkwy|parkway|place|pl|highway|hwy)\b"
    r"|\b(?:suite|ste\.?|floor|p\.?[ \t]?o\.?[ \t]+box)[ \t]*#?\d+"
    r"|,[ \t]*[A-Z]{2}[ \t]+\d{5}(?:-\d{4})?\b",
    re.IGNORECASE,
)
_ATTACHMENT_RE = re.compile(
    r"(?:-[ \t]+[^\n]{1,100}\.[A-Za-z0-9]{2,5}|<<[^\n]{1,120}>>|\[?(?:attachment|image|file)[^\n]{0,80}\]?"
    r"|\(see attached file:[^\n]{0,200}|[^\n]{0,100}\.[A-Za-z0-9]{2,5}\))[ \t]*$",
    re.IGNORECASE,
)
_KEY_VALUE_RE = re.compile(r"([A-Za-z][\w /#.()-]{0,30}?)[ \t]*:[ \t]+\S")
_SIG_LABELS = _words(
    "tel tel. telephone phone ph ph. fax facsimile cell cellular mobile mob mob. direct dir office "
    "work home main email e-mail mail web website www url skype twitter linkedin pager p t f m e w o "
    "c d h address title blackberry voice switchboard"
)
# a signature block below a sign-off may be long (name, title, company, full address, phones)
_SIG_MAX_AFTER_SIGNOFF = 15
_BULLET_RE = re.compile(r"(?:[*•·]|\d{1,2}[.)])[ \t]")
_PS_RE = re.compile(r"p\.?[ \t]?p?\.?[ \t]?s\b\.?", re.IGNORECASE)
_FUNCTION_WORDS = _words(
    "i i'm i'll i've i'd me my you you're your we we're our us is are was were will would can could "
    "should please let know if it it's this that have has had do does did don't not be been am there "
    "what when how why which just so but also"
)
_NAME_PARTICLES = _words("de da del della der den van von la le di du dos das bin al y")
_NAME_TOKEN_RE = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ.'’-]*")

# --------------------------------------------------------------------------------------------
# Greeting and sign-off

_SIGNOFF_RE = re.compile(
    r"(?:(?:many|much|with|warm(?:est)?|kind(?:est)?|best|all(?:[ \t]+the)?|very[ \t]+best|my[ \t]+best"
    r"|sincere"
    r"|heartfelt|big|huge|special|hearty|cordial|warm[ \t]+and[ \t]+kind)[ \t]+)*"
    r"(?:thanks|thank[ \t]+you|thx|tks|thnx|thanx|cheers|regards|rgds|wishes|best|sincerely|cordially"
    r"|respectfully|yours|love|warmly|take[ \t]+care|talk[ \t]+soon|speak[ \t]+soon|ciao|hugs|xoxo"
    r"|mit[ \t]+freundlichen[ \t]+gr[üu](?:ß|ss)en|(?:viele|liebe|beste|herzliche)[ \t]+gr[üu](?:ß|ss)e"
    r"|gr[üu](?:ß|ss)e|mfg|lg|cordialement|bien[ \t]+cordialement|bien[ \t]+[àa][ \t]+vous|amiti[ée]s"
    r"|saludos|un[ \t]+saludo|atentamente|cordiali[ \t]+saluti|saluti|grazie|merci"
    r"|met[ \t]+vriendelijke[ \t]+groet(?:en)?|groeten|abra[çc]os|obrigad[oa])"
    r"(?:[ \t]+(?:again|so[ \t]+much|very[ \t]+much|a[ \t]+lot|a[ \t]+million|a[ \t]+bunch"
    r"|in[ \t]+advance|much"
    r"|all|everyone|everybody|guys|folks|team|truly|sincerely|faithfully|yours|regards|and[ \t]+regards"
    r"|&[ \t]+regards|and[ \t]+best[ \t]+regards|for[ \t]+now|again[ \t]+and[ \t]+regards))*"
    r"(?![\w'])",
    re.IGNORECASE,
)
_SIGNOFF_STOP = _words(
    "for to the you your me my so much a an on in at of it this that and with from very as if we our is"
)
_GREETING_RE = re.compile(
    r"(?i:(?P<g>hi|hello|hey|heya|hiya|dear|good[ \t]+(?:morning|afternoon|evening|day)|howdy|bonjour|salut"
    r"|hallo|hola|ciao|guten[ \t]+(?:morgen|tag|abend)|liebe[rs]?|sehr[ \t]+geehrte[rs]?|buongiorno"
    r"|buenos[ \t]+d[ií]as"
    r"|estimad[oa]s?|caro|cara|beste|hoi|ol[áa]|greetings|morning|afternoon|evening|yo)(?![\w']))"
)
_GREETING_WEAK = frozenset(["greetings", "morning", "afternoon", "evening", "yo", "beste", "caro", "cara"])
_GREETING_NAME_RE = re.compile(
    r"(?:[ \t]*,)?(?:[ \t]+(?:[A-ZÀ-ÖØ-Þ][\w.'’-]*|(?i:all|team|everyone|everybody|there|folks|guys|you"
    r"|y'all|both"
    r"|sir|madam|mr\.?|ms\.?|mrs\.?|dr\.?|prof\.?|and|&|or|colleagues|friends)(?![\w']))){0,5}"
    r"[ \t]*[,:!;.\u2014\u2013-]*"
)
_NAME_GREETING_RE = re.compile(
    r"[A-Za-zÀ-ÖØ-öø-ÿ][\w.'’-]*(?:(?:[ \t]+(?:and|&)[ \t]+|,[ \t]*"
    r"|[ \t]+)[A-ZÀ-ÖØ-Þ][\w.'’-]*){0,4}[ \t]*[,:][ \t]*$"
)
_GREETING_WORDS_RE = re.compile(r"(?:[ \t]+[\w.'’-]+){1,4}[ \t]*[,:!]")
_GREETING_TRAILING_CONNECTOR_RE = re.compile(r"(?:[ \t]+(?:and|&|or))+[ \t]*$", re.IGNORECASE)


# ============================================================================================
# Public API


def split_zones(text: str, max_chars: int = 20000) -> Zones:
    """Split ``text`` (a plain-text mail body) into :class:`Zones`.

    Only the first ``max_chars`` characters are scanned (cut back to the last line break in
    that prefix); text beyond them is in no zone.  ``\\r\\n`` / ``\\r`` line ends come back as
    ``\\n``.  Never raises: on any internal error the whole (scanned) text is returned as
    ``new_text``.
    """
    try:
        return _split_zones(text, max_chars)
    except Exception:  # pragma: no cover - last-resort safety net, must never raise
        try:
            fallback = str(text)[: max(0, int(max_chars))].strip()
        except Exception:
            fallback = ""
        return Zones(fallback, "", "", "", ())


def new_text(text: str, max_chars: int = 20000) -> str:
    """``split_zones(text, max_chars).new_text``, computed faster: the lines after the first hard quote
    marker are not examined any further (they are quoted whatever they hold).  Never raises."""
    try:
        return _split_zones(text, max_chars, new_only=True).new_text
    except Exception:  # pragma: no cover - last-resort safety net, must never raise
        try:
            return str(text)[: max(0, int(max_chars))].strip()
        except Exception:
            return ""


def signoff_span(new_text: str) -> tuple[int, int] | None:
    """Char span of the trailing sign-off of ``new_text``, or ``None``.

    A sign-off is a closing line such as ``Thanks,``, ``Best,``, ``Kind regards``,
    ``Thanks - Dan`` among the last lines, optionally followed by one or two name lines
    (``Thanks!\\nJane``); the span covers the sign-off line and those name lines.  ``Thanks for
    the help.`` is gratitude, not a sign-off, and a text that is only a sign-off (nothing but a
    greeting before it) has none.
    """
    try:
        return _signoff_span(new_text)
    except Exception:  # pragma: no cover - must never raise
        return None


def greeting_span(new_text: str) -> tuple[int, int] | None:
    """Char span of the leading greeting of ``new_text`` (``Hi Jane,``, ``Dear all,``,
    ``Good morning Jane -``, or a first line of only names such as ``Sally,``), or ``None``."""
    try:
        return _greeting_span(new_text)
    except Exception:  # pragma: no cover - must never raise
        return None


# ============================================================================================
# Segmentation


def _split_zones(text: str, max_chars: int, new_only: bool = False) -> Zones:
    """The zones; with ``new_only`` only ``new_text`` is right (the other zones are left empty)."""
    if not isinstance(text, str):
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8", "replace")
        elif text is None:
            text = ""
        else:
            text = str(text)
    try:
        limit = int(max_chars)
    except (TypeError, ValueError):
        limit = 20000
    if limit < 0:
        limit = 0
    if len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        text = text[:cut] if cut > 0 else text[:limit]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        return Zones("", "", "", "", ())

    lines = text.split("\n")
    n = len(lines)
    depths = [0] * n
    contents = lines[:]
    for i, line in enumerate(lines) if ">" in text else ():
        if line.startswith((">", " ", "\t")):
            qm = _QUOTE_PREFIX_RE.match(line)
            if qm is not None:
                prefix = qm.group()
                depths[i] = prefix.count(">")
                contents[i] = line[len(prefix) :]

    labels = [_NEW] * n
    headers: list[QuotedHeader] = []
    in_quoted = False  # once a hard marker is met at top level, everything after is quoted
    # with new_only: from this line on, nothing can change the label of a line before the first hard
    # marker (a header found at line i may start at most 6 lines above it) -- all the rest is quoted
    settled = n
    i = 0
    while i < n:
        if i >= settled:
            labels[i:] = [_QUOTED] * (n - i)
            break
        c = contents[i]
        s = c.strip()
        d = depths[i]
        if not s:
            if in_quoted or d > 0:
                labels[i] = _QUOTED
            i += 1
            continue
        ch = s[0]
        # the lines _detect can take for a marker (it returns None for all others): a dash marker, a
        # header field, a line ending in ":", a forward text, or an attribution whose next line ends in ":"
        if (
            ch in _DASH_FIRST
            or ":" in s[:24]
            or s[-1] == ":"
            or (ch in _FORWARD_FIRST and s[:3].lower() in _FORWARD_TEXT_STARTS)
            or (ch in _ATTR_FIRST and i + 1 < n and contents[i + 1].rstrip()[-1:] == ":")
        ):
            hit = _detect(contents, depths, i, n, s)
        else:
            hit = None
        if hit is not None:
            start, end, header = hit
            headers.append(header)
            if not in_quoted and d == 0:
                inline = header.kind == "wrote" and _next_nonblank_depth(contents, depths, end, n) > 0
                if not inline:
                    in_quoted = True
                    _relabel_separators_before(contents, labels, depths, start)
                    if new_only:
                        settled = start + 8
            for k in range(start, end):
                labels[k] = _QUOTED
            i = max(end, i + 1)
            continue
        if in_quoted or d > 0:
            labels[i] = _QUOTED
            if d > 0 and not in_quoted and not headers:
                headers.append(QuotedHeader(None, None, None, None, "quote"))
        i += 1

    _label_boilerplate(contents, labels, n)
    _label_signature(contents, labels, n)
    # separator lines ("-----", "_____") that end the new text lead nowhere
    for k in range(n - 1, -1, -1):
        if labels[k] != _NEW:
            continue
        s = contents[k].strip()
        if not s:
            continue
        if not _SEPARATOR_RE.match(s):
            break
        labels[k] = _DROP
    if new_only:
        return Zones(_join([lines[k] for k in range(n) if labels[k] == _NEW]), "", "", "", ())

    new_parts: list[str] = []
    quoted_parts: list[str] = []
    sig_parts: list[str] = []
    boiler_parts: list[str] = []
    buckets = (new_parts, quoted_parts, sig_parts, boiler_parts)
    for i in range(n):
        lab = labels[i]
        if lab != _DROP:
            buckets[lab].append(lines[i])
    return Zones(
        new_text=_join(new_parts),
        quoted=_join(quoted_parts),
        signature=_join(sig_parts),
        boilerplate=_join(boiler_parts),
        quoted_headers=tuple(headers),
    )


def _join(parts: list[str]) -> str:
    if not parts:
        return ""
    return "\n".join(parts).strip()


def _next_nonblank_depth(contents: list[str], depths: list[int], i: int, n: int) -> int:
    """Depth of the next non-blank line at or after ``i`` (within 3 lines), -1 if none."""
    for k in range(i, min(n, i + 4)):
        if contents[k].strip():
            return depths[k]
    return -1


def _relabel_separators_before(contents: list[str], labels: list[int], depths: list[int], start: int) -> None:
    """Outlook puts a "_____" line before a reply header: it belongs to the quote, not the author."""
    k = start - 1
    while k >= 0 and labels[k] == _NEW and depths[k] == 0:
        s = contents[k].strip()
        if s and not _SEPARATOR_RE.match(s):
            if k == start - 1 and _BROKEN_MARKER_RE.match(s):
                labels[k] = _QUOTED
            break
        if s:
            labels[k] = _QUOTED
        k -= 1


def _detect(
    contents: list[str], depths: list[int], i: int, n: int, s: str
) -> tuple[int, int, QuotedHeader] | None:
    """Does a quoted/forwarded message start at line ``i``?  -> (first line, end line, header)."""
    ch = s[0]
    d = depths[i]
    if ch in "-_=*":
        if _ORIGINAL_RE.match(s):
            return _marker_with_headers(contents, depths, i, n, "original")
        if _FORWARD_DASH_RE.match(s):
            return _marker_with_headers(contents, depths, i, n, "forwarded")
    if s[:3].lower() in _FORWARD_TEXT_STARTS and _FORWARD_TEXT_RE.match(s):
        return _marker_with_headers(contents, depths, i, n, "forwarded")

    # header field names are short: no ":" near the start, no field (saves a regex call per line)
    fm = _FIELD_RE.match(s) if ":" in s[:24] else None
    if fm is not None:
        canon = _FIELD_CANON.get(_WS_RUN_RE.sub(" ", fm.group(1).lower()))
        if canon == "from":
            fields, end = _parse_fields(contents, depths, i, n)
            if _qualifies_outlook(fields):
                return i, end, _header_from_fields(fields, None, None, "original")
        elif canon == "to":
            fields, end = _parse_fields(contents, depths, i, n)
            if "cc" in fields or "subject" in fields:
                full = "subject" in fields and "cc" in fields and "from" not in fields
                pre = _notes_preamble_before(contents, depths, i, d, strict=not full)
                if pre is not None:
                    start, sender, sent = pre
                    return start, end, _header_from_fields(fields, sender, sent, "original")
                if full:  # a Notes "To: / cc: / Subject:" block whose sender line was lost
                    return i, end, _header_from_fields(fields, None, None, "original")
        return None

    if len(s) <= 400:
        if s[-1] == ":":
            m = _WROTE_RE.match(s)
            if m is not None and _attribution_ok(s, m, contents, depths, i + 1, n, d):
                return i, i + 1, _wrote_header(m)
        elif i + 1 < n and depths[i + 1] == d and _ATTR_START_RE.match(s):
            s2 = contents[i + 1].strip()
            if s2 and s2[-1] == ":" and len(s2) <= 200:
                joined = s + (" " if not s.endswith("<") else "") + s2
                m = _WROTE_RE.match(joined)
                if m is not None and _attribution_ok(joined, m, contents, depths, i + 2, n, d):
                    return i, i + 2, _wrote_header(m)
    return None


def _attribution_ok(
    s: str, m: re.Match[str], contents: list[str], depths: list[int], after: int, n: int, d: int
) -> bool:
    """'On <date>, X wrote:' is enough on its own; a bare 'X wrote:' must be followed by a quote."""
    pre = m.group("pre")
    if _ATTR_START_RE.match(s) and (any(c.isdigit() for c in pre) or "@" in s):
        return True
    if len(pre) > 120 or pre.rstrip().endswith((".", "!", "?")):
        return False
    return _next_nonblank_depth(contents, depths, after, n) > d


def _wrote_header(m: re.Match[str]) -> QuotedHeader:
    pre = m.group("pre").strip()
    post = m.group("post").strip().strip(",").strip()
    am = _ATTR_START_RE.match(pre)
    body = pre[am.end() :].strip() if am else pre
    sender: str | None
    sent: str | None
    if post:  # "Am 05.01.2015 um 15:04 schrieb Jane Doe <jane@example.com>:"
        sender = post
        sent = body.strip(" ,") or None
    elif am is not None:
        cut = len(body)
        for stop in ("<", '"', "@"):
            p = body.find(stop)
            if 0 <= p < cut:
                cut = p
        last: re.Match[str] | None = None
        for anchor in _ATTR_ANCHOR_RE.finditer(body, 0, cut):
            last = anchor
        if last is not None:
            rest = body[last.end() :].lstrip(" \t,")
            tz = _ATTR_TZ_RE.match(rest)
            if tz is not None:
                rest = rest[tz.end() :]
            sender = rest.strip(" ,") or None
            sent = body[: last.end()].strip(" ,") or None
        else:
            comma = body.rfind(",", 0, cut)
            if comma >= 0:
                sender = body[comma + 1 :].strip() or None
                sent = body[:comma].strip() or None
            else:
                sender, sent = (body or None), None
    else:  # "Jane Doe <jane@example.com> wrote:"
        sender, sent = (body.strip(" ,") or None), None
    return QuotedHeader(sender, _address(sender), sent, None, "wrote")


def _address(value: str | None) -> str | None:
    if not value:
        return None
    m = _EMAIL_RE.search(value)
    return m.group(0).lower() if m else None


def _parse_fields(contents: list[str], depths: list[int], i: int, n: int) -> tuple[dict[str, str], int]:
    """Header field lines from ``i`` on (continuations and single blank lines between fields
    allowed) -> ({canonical name: value}, index after the last field line)."""
    d = depths[i]
    fields: dict[str, str] = {}
    last: str | None = None
    end = i
    k = i
    limit = min(n, i + 40)
    while k < limit:
        if depths[k] != d:
            break
        raw = contents[k]
        s = raw.strip()
        if not s:
            # a blank line may separate fields (Notes: "cc:\n\nSubject:"), not end the block
            nxt = k + 1
            while nxt < limit and depths[nxt] == d and not contents[nxt].strip() and nxt - k < 2:
                nxt += 1
            if nxt < limit and depths[nxt] == d and _field_canon(contents[nxt].strip()) is not None:
                k = nxt
                continue
            break
        fm = _FIELD_RE.match(s)
        canon = _FIELD_CANON.get(_WS_RUN_RE.sub(" ", fm.group(1).lower())) if fm else None
        if fm is not None and canon is not None:
            if canon in fields and canon in ("from", "to", "subject", "sent", "date"):
                break  # the next header block starts here
            value = fm.group(2).strip()
            if canon not in fields:
                fields[canon] = value
            last = canon
            end = k + 1
            k += 1
            continue
        # continuation of the previous field: indented, or a To/Cc list still open
        if last is not None and (
            raw[:1] in (" ", "\t")
            or (last in ("to", "cc", "bcc") and fields.get(last, "").rstrip()[-1:] in (",", ";"))
        ):
            if last in fields:
                fields[last] = (fields[last] + " " + s).strip()
            end = k + 1
            k += 1
            continue
        break
    return fields, max(end, i + 1)


def _field_canon(s: str) -> str | None:
    fm = _FIELD_RE.match(s)
    if fm is None:
        return None
    return _FIELD_CANON.get(_WS_RUN_RE.sub(" ", fm.group(1).lower()))


def _qualifies_outlook(fields: dict[str, str]) -> bool:
    others = sum(1 for f in ("sent", "date", "to", "cc", "subject") if f in fields)
    return others >= 2 and ("sent" in fields or "date" in fields or "subject" in fields)


def _header_from_fields(
    fields: dict[str, str], sender: str | None, sent: str | None, kind: str
) -> QuotedHeader:
    frm = fields.get("from")
    if frm:
        notes = _NOTES_DATE_RE.search(frm)
        if notes is not None and _NOTES_ON_DATE_TAIL_RE.search(frm[: notes.start()]):
            # Notes: "From: Jane Doe/HOU/ECT@ECT on 04/20/2001 07:26 PM"
            sent = sent or frm[notes.start() :].strip() or None
            frm = _NOTES_ON_DATE_TAIL_RE.sub("", frm[: notes.start()]).strip()
        sender = frm or sender
    sent = fields.get("sent") or fields.get("date") or sent
    subject = fields.get("subject")
    return QuotedHeader(sender or None, _address(sender), sent or None, subject if subject else None, kind)


def _marker_with_headers(
    contents: list[str], depths: list[int], i: int, n: int, kind: str
) -> tuple[int, int, QuotedHeader]:
    """A "-----Original Message-----" / "Forwarded by" marker line; pick up the header block
    (and a Lotus Notes "Name / date" preamble) that follows within a few lines."""
    d = depths[i]
    pre_lines: list[str] = []
    k = i + 1
    limit = min(n, i + 12)
    # the header may sit at another quote depth than the marker ("> -----Original Message-----"
    # then "From: ..."), but only right after it
    while k < limit and (depths[k] == d or not pre_lines):
        s = contents[k].strip()
        if not s:
            k += 1
            continue
        if _FIELD_RE.match(s) is not None and _field_canon(s) is not None:
            fields, end = _parse_fields(contents, depths, k, n)
            sender, sent = _parse_preamble(pre_lines)
            return i, end, _header_from_fields(fields, sender, sent, kind)
        if depths[k] != d or len(pre_lines) >= 4 or len(s) > 200:
            break
        if "-----" not in s and not _PREAMBLE_NOISE_RE.match(s):
            pre_lines.append(s)
        k += 1
    if pre_lines and kind == "forwarded":
        # "Forwarded by" followed by a Notes preamble but no field lines
        sender, sent = _parse_preamble(pre_lines)
        if sent is not None:
            return i, i + 1, QuotedHeader(sender, _address(sender), sent, None, kind)
    return i, i + 1, QuotedHeader(None, None, None, None, kind)


def _parse_preamble(pre_lines: list[str]) -> tuple[str | None, str | None]:
    """Lotus Notes header preamble -> (sender, sent).  Needs a date or an address to count."""
    kept = [p for p in pre_lines if not _NOTES_SKIP_RE.match(p)]
    if not kept:
        return None, None
    joined = _WS_RUN_RE.sub(" ", " ".join(kept)).strip()
    fm = _MIDLINE_FROM_RE.search(joined)
    if fm is not None:
        joined = joined[fm.end() :]
    dm = _NOTES_DATE_RE.search(joined)
    if dm is not None:
        sender = _NOTES_ON_DATE_TAIL_RE.sub("", joined[: dm.start()]).strip() or None
        return sender, joined[dm.start() :].strip() or None
    if fm is not None or "@" in joined:
        return joined.strip() or None, None
    return None, None


def _notes_preamble_before(
    contents: list[str], depths: list[int], t: int, d: int, strict: bool
) -> tuple[int, str | None, str | None] | None:
    """Lotus Notes reply header ending at the "To:" line ``t``: look back a few lines for
    "Name <addr> on 04/02/2001 05:12 PM", "Name\\n04/02/2001 05:12 PM", "Name@ECT" ...
    -> (first preamble line, sender, sent) or None."""
    found: list[int] = []
    k = t - 1
    while k >= 0 and t - k <= 6 and len(found) < 4 and depths[k] == d:
        s = contents[k].strip()
        if s and not _NOTES_SKIP_RE.match(s):
            found.append(k)
        k -= 1
    if not found:
        return None
    l1 = found[0]
    s1 = contents[l1].strip()
    if len(s1) > 200:
        return None
    if _NOTES_TIME_ONLY_RE.fullmatch(s1) and len(found) > 1:
        # "... on 04/24/2001\n02:11:05 PM" wrapped
        l2 = found[1]
        s2 = contents[l2].strip()
        if _NOTES_DATE_RE.search(s2):
            sender, sent = _parse_preamble([s2, s1])
            return l2, sender, sent
        return None
    if _NOTES_BARE_DATE_RE.fullmatch(s1):
        if len(found) > 1:
            l2 = found[1]
            s2 = contents[l2].strip()
            if len(s2) <= 80 and not s2.endswith((".", "?", "!", ":", ",")) and _FIELD_RE.match(s2) is None:
                return l2, s2 or None, s1
        return l1, None, s1
    dm = _NOTES_DATE_RE.search(s1)
    if dm is not None and dm.start() > 0:
        sender, sent = _parse_preamble([s1])
        return l1, sender, sent
    addressish = _NOTES_ADDRESS_RE.fullmatch(s1) or (_EMAIL_RE.search(s1) and len(s1) <= 100)
    if not strict and addressish and not s1.endswith((".", "?", "!", ",")):
        return l1, s1, None
    return None


# ============================================================================================
# Boilerplate


def _label_boilerplate(contents: list[str], labels: list[int], n: int) -> None:
    """Label legal notices and unsubscribe footers among the new-text lines.

    New-text lines are grouped into runs that only blank / separator lines split; in each run
    the strong patterns are searched over the run's text (so a notice wrapped over
    double-spaced lines is still found), and every line from the start of the sentence holding a
    match to the end of its paragraph is boilerplate.  Neighbouring paragraphs that carry
    boilerplate vocabulary are pulled in after that."""
    # (ahead of the run being looked at, every line is still NEW or QUOTED)
    first_para = True
    i = _index(labels, _NEW, 0, n)
    while i < n:
        # one run: NEW lines up to the next non-NEW line
        j = _index(labels, _QUOTED, i, n)
        first_para = _boilerplate_run(contents, labels, i, j, n, first_para)
        i = _index(labels, _NEW, j, n)


def _index(values: Sequence[int], value: int, start: int, n: int) -> int:
    """Index of the first ``value`` in ``values[start:n]``, ``n`` if none."""
    try:
        return values.index(value, start, n)
    except ValueError:
        return n


def _boilerplate_run(
    contents: list[str], labels: list[int], a: int, b: int, n: int, first_para: bool
) -> bool:
    # Cheap gates on the run's raw lines (lower case; the needles found in each line are cached): the strong
    # patterns run only near a trigger, and each alternative holds one of its literals (and, for some, one
    # of its _BOILER_RAW_PARTS).  What the run's text holds, its raw lines hold: a space of the text is
    # white space, a line break or left-out separator lines there.  No trigger or no alternative that may
    # match: no boilerplate, and no text to build (a run without paragraphs has no letters either).
    lines = contents[a:b]
    needles = _needles_in(_LINE_GATE, lines, _GATE_NEEDLES)
    gate = [word for word in _BOILER_GATE if word in needles]
    present = set(gate)
    allowed: frozenset[int] | None = None  # the strong alternatives that may match
    if gate:
        joined = "\n".join(lines).replace("\u0130", "i")
        raw = joined.lower()
        if not any(word in needles for word, gate_word in _BOILER_TRIGGERS_WORD if gate_word in present) and not any(
            rx.search(raw) for rx, gate_word in _BOILER_TRIGGERS_SPACED if gate_word in present
        ):
            gate = []
        elif len(raw) == len(joined):  # (then lower() keeps the length of the run's text too)
            allowed = _boiler_possible(raw, _needles_in(_LINE_LITERALS, lines, _BOILER_WORD_LITERALS))
            if not allowed:
                gate = []
    if not gate:
        return first_para if not any(map(_is_text_line, lines)) else False
    # paragraphs of the run: (first line, end line)
    paras: list[tuple[int, int]] = []
    k = a
    while k < b:
        if not _is_text_line(contents[k]):
            k += 1
            continue
        e = k
        while e < b and _is_text_line(contents[e]):
            e += 1
        paras.append((k, e))
        k = e
    if not paras:
        return first_para
    # the paragraphs' lines, white space collapsed (none is blank)
    collapsed = {li: _collapse(contents[li]) for ps, pe in paras for li in range(ps, pe)}
    # the run's text, with the char span of every line
    pieces: list[str] = []
    spans: list[tuple[int, int, int]] = []  # (line, start, end)
    pos = 0
    prev_single = False
    for pi, (ps, pe) in enumerate(paras):
        single = pe - ps == 1
        if pi:
            # double-spaced text: a sentence wrapped over single-line "paragraphs"
            prev_text = contents[paras[pi - 1][1] - 1].rstrip()
            cur_text = contents[ps].lstrip()
            wrapped = (
                single
                and prev_single
                and not prev_text.endswith((".", "!", "?", ":"))
                and cur_text[:1].islower()
            )
            sep = " " if wrapped else "\n"
            pieces.append(sep)
            pos += 1
        for li in range(ps, pe):
            if li > ps:
                pieces.append(" ")
                pos += 1
            s = collapsed[li]
            spans.append((li, pos, pos + len(s)))
            pieces.append(s)
            pos += len(s)
        prev_single = single
    text = "".join(pieces)
    low = text.replace("\u0130", "i").lower()  # U+0130 is the one letter lower() lengthens
    strong_re = _BOILER_STRONG_RE
    if len(low) != len(text):  # lower() changed the length (rare letters): keep offsets, match caselessly
        low = "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in text)
        strong_re = _BOILER_STRONG_CI_RE
    text = low
    # windows of text around trigger words (str.find is far faster than a regex alternation);
    # the strong patterns only run there
    hits: list[tuple[int, int]] = []
    for word, gate_word in _BOILER_TRIGGER_GATES:
        if gate_word not in present:
            continue  # the trigger holds its gate word, which the run does not
        p = text.find(word)
        while p >= 0:
            hits.append((p, p + len(word)))
            p = text.find(word, p + len(word))
    hits.sort()
    windows: list[tuple[int, int]] = []
    for hs, he in hits:
        lo = max(0, hs - _BOILER_WINDOW)
        hi = min(len(text), he + _BOILER_WINDOW)
        if windows and lo <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(hi, windows[-1][1]))
        else:
            windows.append((lo, hi))
    if not windows:
        return False
    matches: list[tuple[int, int, bool]] = []  # (start, end, is "notfirst")
    for lo, hi in windows:
        if strong_re is _BOILER_STRONG_CI_RE:
            matches.extend(
                (m.start(), m.end(), m.lastgroup == "notfirst") for m in strong_re.finditer(text, lo, hi)
            )
        else:
            matches.extend(_strong_matches(text, lo, hi, allowed))
    marked: set[int] = set()
    para_of: dict[int, int] = {}
    for pi, (ps, pe) in enumerate(paras):
        for li in range(ps, pe):
            para_of[li] = pi
    span_index = {sp[0]: si for si, sp in enumerate(spans)}
    covered = -1  # text offset up to which lines are already marked
    tail_start = paras[-2][0] if len(paras) >= 2 else paras[-1][0]
    if first_para and len(paras) <= 2:
        tail_start = paras[-1][1] if len(paras) == 1 else paras[1][0]
    for m_start, m_end, notfirst in matches:
        if notfirst and _line_at(spans, m_start) < tail_start:
            # "You are receiving this because ..." is a footer only near the end, never the
            # opening paragraph of a notification
            continue
        # from the start of the sentence holding the match
        if m_start < covered:
            continue
        lo = max(0, m_start - 300)
        cut = max(
            text.rfind(".", lo, m_start),
            text.rfind("!", lo, m_start),
            text.rfind("?", lo, m_start),
            text.rfind("\n", lo, m_start),
        )
        cut = cut + 1 if cut >= 0 else lo
        first_line = _line_at(spans, cut + (1 if text[cut : cut + 1] == " " else 0))
        last_line = _line_at(spans, max(m_start, m_end - 1))
        # to the end of the paragraph holding the match end
        ps, pe = paras[para_of[last_line]]
        last_line = pe - 1
        # lines before the sentence in the same paragraph that read like the notice
        q = first_line - 1
        while q >= ps and _BOILER_WEAK_BACK_RE.search(contents[q]):
            q -= 1
        first_line = q + 1
        marked.update(range(first_line, last_line + 1))
        covered = spans[span_index[last_line]][2]
    if not marked:
        return False
    # neighbouring paragraphs with boilerplate vocabulary
    flags = [any(li in marked for li in range(ps, pe)) for ps, pe in paras]
    for pi in range(1, len(paras)):
        if not flags[pi] and flags[pi - 1]:
            ps, pe = paras[pi]
            para = " ".join(contents[ps:pe])
            if pe - ps <= 6 and _BOILER_WEAK_RE.search(para):
                flags[pi] = True
                marked.update(range(ps, pe))
    for pi in range(len(paras) - 2, -1, -1):
        if not flags[pi] and flags[pi + 1]:
            ps, pe = paras[pi]
            if pe - ps <= 3 and all(_BOILER_WEAK_BACK_RE.search(contents[q]) for q in range(ps, pe)):
                flags[pi] = True
                marked.update(range(ps, pe))
    # blank / separator lines between two marked lines belong to the notice
    ordered = sorted(marked)
    for a_line, b_line in zip(ordered, ordered[1:], strict=False):
        if b_line - a_line > 1 and all(
            not contents[q].strip() or _SEPARATOR_RE.match(contents[q].strip())
            for q in range(a_line + 1, b_line)
        ):
            marked.update(range(a_line + 1, b_line))
    for li in marked:
        labels[li] = _BOILER
    for pi, (ps, pe) in enumerate(paras):
        if flags[pi]:
            _absorb_frame(contents, labels, ps, pe, n)
    return False


def _collapse(line: str) -> str:
    """``" ".join(line.split())``: the line itself when it has no white space but single spaces inside."""
    if line.isascii() and line.isprintable() and "  " not in line and line[:1] != " " and line[-1:] != " ":
        return line
    return " ".join(line.split())


def _is_text_line(line: str) -> bool:
    """Neither blank nor a separator line ("-----", "* * *")."""
    s = line.strip()
    return bool(s) and (s[0] not in _SEPARATOR_FIRST or _SEPARATOR_RE.match(s) is None)


def _strong_matches(
    text: str, lo: int, hi: int, allowed: frozenset[int] | None = None
) -> list[tuple[int, int, bool]]:
    """(start, end, is "notfirst") of what ``_BOILER_STRONG_RE.finditer(text, lo, hi)`` finds, without
    running the whole alternation: only the alternatives whose literals occur in the window run (of
    ``allowed``, the others being known not to match), and their matches are merged the way the
    alternation picks them (leftmost first; at the same start, the earlier alternative; the next search
    starts where a match ends)."""
    found: dict[str, bool] = {}
    parts: list[tuple[re.Pattern[str], bool]] = []
    for index, (rx, literals, notfirst) in enumerate(_BOILER_PARTS):
        if allowed is not None and index not in allowed:
            continue
        for literal in literals:
            present = found.get(literal)
            if present is None:
                present = found[literal] = text.find(literal, lo, hi) >= 0
            if present:
                parts.append((rx, notfirst))
                break
    if not parts:
        return []
    if len(parts) == 1:
        rx, notfirst = parts[0]
        return [(m.start(), m.end(), notfirst) for m in rx.finditer(text, lo, hi)]
    nexts = [rx.search(text, lo, hi) for rx, _ in parts]
    out: list[tuple[int, int, bool]] = []
    while True:
        best = -1
        best_start = hi + 1
        for k, m in enumerate(nexts):
            if m is not None and m.start() < best_start:
                best, best_start = k, m.start()
        if best < 0:
            return out
        m = nexts[best]
        assert m is not None
        pos = m.end() if m.end() > m.start() else m.end() + 1  # (no alternative matches empty)
        out.append((m.start(), m.end(), parts[best][1]))
        for k, mk in enumerate(nexts):
            if mk is not None and mk.start() < pos:
                nexts[k] = parts[k][0].search(text, pos, hi) if pos <= hi else None


def _boiler_possible(raw: str, literals: frozenset[str]) -> frozenset[int]:
    """The strong alternatives (indices into _BOILER_PARTS) that may match in a run whose lines, joined and
    lower-cased, are ``raw`` and hold the ``literals`` (of _BOILER_WORD_LITERALS)."""
    candidates: set[int] = set()
    for literal in literals.intersection(_BOILER_BY_WORD):
        candidates.update(_BOILER_BY_WORD[literal])
    for literal, rx, word, indices in _BOILER_BY_SPACED:
        if word in literals and not candidates.issuperset(indices) and (literal in raw or rx.search(raw)):
            candidates.update(indices)
    possible: list[int] = []
    for k in candidates:
        parts = _BOILER_RAW_PARTS.get(k)
        # (the part as written, on one line, is found fastest)
        if parts is None or any(part in raw for part in parts[0]) or any(rx.search(raw) for rx in parts[1]):
            possible.append(k)
    return frozenset(possible)


def _needles_in(cache: dict[str, frozenset[str]], lines: list[str], needles: tuple[str, ...]) -> frozenset[str]:
    """The ``needles`` (lower case, no white space) in the lower-cased ``lines``, with what each line holds
    cached in ``cache`` by its text (mail repeats its lines: greetings, signatures, notices)."""
    found = list(map(cache.get, lines))
    if None not in found:
        return frozenset().union(*found)  # type: ignore[arg-type]
    if len(cache) > _LINE_CACHE_SIZE:
        cache.clear()
    missing = list(compress(lines, map(operator.is_, found, repeat(None))))
    # the needles are rare: look for them in all the new lines at once, then line by line if one is there
    # (lower() works character by character, so a line's part of the joined text is the line lowered)
    joined = "\n".join(missing).replace("\u0130", "i").lower()
    present = [needle for needle in needles if needle in joined]
    cache.update(dict.fromkeys(missing, _NO_NEEDLES))
    if present:
        starts = list(accumulate(map((1).__add__, map(len, missing)), initial=0))
        if starts[-1] != len(joined) + 1:  # (lower() changed a length: line by line)
            for line in missing:
                low = line.replace("\u0130", "i").lower()
                cache[line] = frozenset([needle for needle in present if needle in low]) or _NO_NEEDLES
        else:
            holding: dict[int, list[str]] = {}
            for needle in present:
                at = joined.find(needle)
                while at >= 0:
                    holding.setdefault(bisect_right(starts, at) - 1, []).append(needle)
                    at = joined.find(needle, at + 1)
            for index, held in holding.items():
                cache[missing[index]] = frozenset(held)
    return frozenset(present).union(*filter(None, found))


def _line_at(spans: list[tuple[int, int, int]], offset: int) -> int:
    """Line whose span holds (or, in a gap, follows) ``offset``; spans are sorted."""
    lo, hi = 0, len(spans) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if spans[mid][2] < offset:
            lo = mid + 1
        else:
            hi = mid
    return spans[lo][0]


def _absorb_frame(contents: list[str], labels: list[int], i: int, j: int, n: int) -> None:
    """Separator lines around a notice (``*****`` frames) belong to it."""
    k = i - 1
    opened = False
    while k >= 0 and i - k <= 3 and labels[k] in (_NEW, _BOILER):
        s = contents[k].strip()
        if s:
            if _SEPARATOR_RE.match(s):
                labels[k] = _BOILER
                opened = _STARS_FRAME_RE.match(s) is not None
            break
        k -= 1
    k = j
    limit = min(n, j + (30 if opened else 3))
    while k < limit and labels[k] == _NEW:
        s = contents[k].strip()
        if s and _SEPARATOR_RE.match(s):
            for m in range(j, k + 1):
                labels[m] = _BOILER
            return
        if s and not opened:
            return
        k += 1


# ============================================================================================
# Signature


def _label_signature(contents: list[str], labels: list[int], n: int) -> None:
    new_idx = [i for i in range(n) if labels[i] == _NEW]
    if not new_idx:
        return
    nonblank = [i for i in new_idx if contents[i].strip()]
    # trailing attachment notes (" - report.xls", "<< File: a.doc >>") are not part of a signature
    while nonblank and _ATTACHMENT_RE.match(contents[nonblank[-1]].strip()):
        nonblank.pop()
    if not nonblank:
        return
    last_line = nonblank[-1]
    # 1. the "-- " separator (the first one followed by a plausible signature length)
    for pos, i in enumerate(nonblank):
        if contents[i].strip() == "--":
            after = len(nonblank) - pos - 1
            if after <= 20:
                labels[i] = _DROP
                for k in new_idx:
                    if i < k <= last_line:
                        labels[k] = _SIG
                return
    # 2. a trailing block after a sign-off, or a trailing block with signature features
    sig = _trailing_signature(contents, nonblank)
    if sig is None:
        return
    first = nonblank[sig]
    # a separator line right above the signature belongs to it
    pos = sig - 1
    while pos >= 0 and _SEPARATOR_RE.match(contents[nonblank[pos]].strip()):
        first = nonblank[pos]
        pos -= 1
    for k in new_idx:
        if first <= k <= last_line:
            labels[k] = _SIG


def _trailing_signature(contents: list[str], nb: list[int]) -> int | None:
    """Index into ``nb`` (non-blank new-text lines) where the trailing signature starts."""
    m = len(nb)
    j = m
    while j > 0 and m - j < _SIG_MAX_AFTER_SIGNOFF + 1:
        s = contents[nb[j - 1]].strip()
        if _is_signoff_line(s):
            break
        if not _sig_like(s):
            break
        j -= 1
    if j == m:
        return None
    signoff = j > 0 and _is_signoff_line(contents[nb[j - 1]].strip())
    block = list(range(j, m))
    if signoff:
        if len(block) > _SIG_MAX_AFTER_SIGNOFF:
            return None
        first = block[0]
        s0 = contents[nb[first]].strip()
        directly = nb[first] == nb[first - 1] + 1
        if _name_like(s0):
            if len(block) == 1:
                return None
            if directly or _blank_between(contents, nb[first], nb[first + 1]):
                block = block[1:]
        block = [b for b in block if not _SEPARATOR_RE.match(contents[nb[b]].strip())]
        if not block:
            return None
        texts = [contents[nb[b]].strip() for b in block]
        # after a sign-off, a trailing block is a signature if it carries a feature or is only names
        if not any(_sig_feature(x) for x in texts) and not all(_name_like(x) for x in texts):
            return None
        return block[0]
    # no sign-off: the block must carry signature features and stand apart from the body
    if m - j > _SIG_MAX_AFTER_SIGNOFF + 1:
        return None
    # keep the trailing paragraphs that carry a feature (a bare name paragraph stays new text)
    paras: list[list[int]] = []
    split = True
    for b in block:
        if _SEPARATOR_RE.match(contents[nb[b]].strip()):
            split = True  # a "~ ~ ~" / "-----" line separates blocks and counts for nothing
            continue
        if paras and not split and not _blank_between(contents, nb[paras[-1][-1]], nb[b]):
            paras[-1].append(b)
        else:
            paras.append([b])
        split = False
    chosen: list[int] = []
    for para in reversed(paras):
        texts = [contents[nb[b]].strip() for b in para]
        if any(_sig_strong(t) for t in texts) or (
            len(texts) >= 2 and any(_name_like(t) for t in texts) and any(_sig_weak(t) for t in texts)
        ):
            chosen = para + chosen
        else:
            break
    if not chosen or len(chosen) > 8:
        return None
    start = chosen[0]
    mobile_only = all(
        _MOBILE_RE.match(contents[nb[b]].strip()) or _SEPARATOR_RE.match(contents[nb[b]].strip())
        for b in chosen
    )
    if start == 0:
        return None if not mobile_only else start
    if mobile_only:
        return start
    if len(chosen) > 6:
        return None
    if len(chosen) == 1 and not _single_line_signature(contents[nb[start]].strip()):
        return None
    prev = contents[nb[start - 1]].strip()
    if prev.endswith(":"):  # "please contact one of the following:" introduces content
        return None
    if (
        _blank_between(contents, nb[start - 1], nb[start])
        or prev.endswith((".", "!", "?"))
        or _SEPARATOR_RE.match(prev)
    ):
        return start
    return None


def _single_line_signature(s: str) -> bool:
    """ "Jane Doe (x5-4895)", "Jane Doe | 555-123-4567 | jane@example.com": a name beside a phone or
    address; a lone URL or "call 555-1234 to order" is not a signature."""
    rest = _PHONE_RE.sub(" ", _EMAIL_RE.sub(" ", s))
    if rest == s:
        return False
    rest = " ".join(rest.replace("|", " ").replace("(", " ").replace(")", " ").split()).strip(" ,;:-/")
    for label in ("tel", "phone", "ph", "cell", "mobile", "fax", "email", "e-mail", "office", "direct"):
        if rest.lower().endswith(" " + label):
            rest = rest[: -len(label)].rstrip(" ,;:-/")
    return not rest or _name_like(rest)


def _blank_between(contents: list[str], a: int, b: int) -> bool:
    return any(not contents[k].strip() for k in range(a + 1, b))


def _sig_strong(s: str) -> bool:
    """Phone, e-mail, URL, postal address or "Sent from my ..." -- enough on its own."""
    return bool(
        _MOBILE_RE.match(s)
        or _EMAIL_RE.search(s)
        or (_URL_RE.search(s) and not _URL_ONLY_RE.fullmatch(s))
        or _PHONE_LABEL_RE.match(s)
        or _PHONE_RE.search(s)
        or _ADDRESS_RE.search(s)
    )


def _sig_weak(s: str) -> bool:
    """A job title or a company name: a signature feature next to a name line."""
    return bool(_TITLE_RE.search(s) or _COMPANY_RE.search(s))


def _sig_feature(s: str) -> bool:
    return _sig_strong(s) or _sig_weak(s)


def _sig_like(s: str) -> bool:
    """Could this line be part of a signature block (short, not a sentence)?"""
    if len(s) > 80:
        return False
    if _SEPARATOR_RE.match(s) or _MOBILE_RE.match(s):
        return True
    if _name_like(s):
        return True
    if _PS_RE.match(s) or _BULLET_RE.match(s) or s.endswith(("?", ":")):
        return False
    kv = _KEY_VALUE_RE.match(s)
    if kv is not None and kv.group(1).strip().lower() not in _SIG_LABELS:
        return False
    words = s.split()
    if len(words) >= 10:
        return False
    fw = 0
    for w in words:
        lw = w.lower().strip(".,;:!()\"'")
        if lw in _FUNCTION_WORDS:
            fw += 1
            if lw == "please":
                return False
    if fw >= 2:
        return False
    return not (s.endswith((".", "!")) and len(words) >= 6)


def _name_like(s: str) -> bool:
    """ "Jane", "Jane Doe", "-jane", "--J.D.", "Mary-Ann O'Neil"."""
    s = s.lstrip("-–—~ \t").rstrip(" \t.")
    if not s or len(s) > 40:
        return False
    tokens = s.split()
    if len(tokens) > 5:
        return False
    names = 0
    for t in tokens:
        if t in ("&", "and") and names > 0:
            continue
        if not _NAME_TOKEN_RE.fullmatch(t):
            return False
        names += 1
    if names == 0 or names > 4 or tokens[-1] in ("&", "and"):
        return False
    if len(tokens) == 1:
        return True
    return all(t[0].isupper() or t.lower() in _NAME_PARTICLES or t in ("&", "and") for t in tokens)


def _is_signoff_line(s: str) -> bool:
    s = s.lstrip("-–—~ \t")
    if not s or len(s) > 60:
        return False
    m = _SIGNOFF_RE.match(s)
    if m is None:
        return False
    rest = s[m.end() :].strip(" \t,.!;:-–—~")
    if not rest:
        return True
    first = rest.split()[0].lower()
    return first not in _SIGNOFF_STOP and _name_like(rest)


# ============================================================================================
# Greeting / sign-off spans


def _signoff_span(new_text: str) -> tuple[int, int] | None:
    if not isinstance(new_text, str) or not new_text:
        return None
    end = len(new_text.rstrip())
    # the last non-blank lines (at most 7, within 80 lines), as (start, end) spans, last first
    spans: list[tuple[int, int]] = []
    pos = end
    seen = 0
    while pos > 0 and len(spans) < 7 and seen < 80:
        seen += 1
        nl = new_text.rfind("\n", 0, pos)
        a = nl + 1
        if pos - a > 400:  # a long last line is prose, not a sign-off
            if not spans:
                return None
            break
        line = new_text[a:pos]
        if line.strip():
            lead = len(line) - len(line.lstrip())
            spans.append((a + lead, a + len(line.rstrip())))
        if nl < 0:
            break
        pos = nl
    # attachment notes after the sign-off (" - report.doc") do not hide it
    skipped = 0
    while spans and skipped < 3 and _ATTACHMENT_RE.match(new_text[spans[0][0] : spans[0][1]]):
        spans.pop(0)
        skipped += 1
    spans = spans[:4]
    names: list[tuple[int, int]] = []
    for a, b in spans:
        line = new_text[a:b]
        if _is_signoff_line(line):
            if len(names) > 2:
                return None
            if not _has_content_before(new_text, a):
                return None
            stop = names[0][1] if names else b
            return a, stop
        if _name_like(line) and len(names) < 2:
            names.insert(0, (a, b))
            continue
        return None
    return None


def _has_content_before(text: str, a: int) -> bool:
    """Is there text before ``a`` other than a greeting?"""
    before = text[:a]
    if not before.strip():
        return False
    g = _greeting_span(before)
    if g is None:
        return True
    return bool(before[g[1] :].strip())


def _greeting_span(new_text: str) -> tuple[int, int] | None:
    if not isinstance(new_text, str) or not new_text:
        return None
    n = len(new_text)
    a = 0
    while a < n and new_text[a] in " \t\r\n\ufeff\u00a0":
        a += 1
    if a >= n:
        return None
    nl = new_text.find("\n", a, a + 400)
    line_end = nl if nl >= 0 else min(n, a + 400)
    line = new_text[a:line_end].rstrip()
    if not line:
        return None
    gm = _GREETING_RE.match(line)
    if gm is not None:
        nm = _GREETING_NAME_RE.match(line, gm.end())
        stop = nm.end() if nm is not None else gm.end()
        if not line[:stop].rstrip().endswith((",", ":", "!", ";", ".", "-", "\u2014", "\u2013")):
            # "Dear subscriber,", "Hi team members," -- lower-case words closed by punctuation
            wm = _GREETING_WORDS_RE.match(line, gm.end())
            if wm is not None:
                stop = wm.end()
        span_text = _GREETING_TRAILING_CONNECTOR_RE.sub("", line[:stop].rstrip())
        stop = len(span_text)
        rest = line[stop:].strip()
        if gm.group("g").lower() in _GREETING_WEAK and rest:
            return None
        # "Hello world is..." -> a bare greeting word followed by lower-case text is no greeting
        if (
            rest
            and not span_text.endswith((",", ":", "!", ";", ".", "-", "\u2014", "\u2013"))
            and stop == gm.end()
            and not rest[:1].isupper()
        ):
            return None
        return a, a + stop
    if len(line) <= 60 and _NAME_GREETING_RE.fullmatch(line):
        words = line.rstrip(",: \t").replace(",", " ").split()
        if 1 <= len(words) <= 5 and not _SIGNOFF_RE.fullmatch(line.rstrip(",: \t")):
            return a, a + len(line.rstrip())
    return None
