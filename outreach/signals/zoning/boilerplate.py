"""Legal notices and unsubscribe / mailing-list footers among the new-text lines.

The strong patterns (English, French, German) run only near a trigger word, on the text of a run of
new-text lines with white space collapsed and lower-cased; before that, cheap gates on the run's raw lines
(which trigger words and pattern literals they hold, cached per line text) skip most runs outright.
"""

from __future__ import annotations

import operator
import re
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate, compress, repeat

from outreach.signals.zoning.zones import BOILER, NEW, QUOTED, SEPARATOR_FIRST, SEPARATOR_RE, word_set

__all__ = ["label_boilerplate"]

_STARS_FRAME_RE = re.compile(r"[*=#~]{5,}+[ \t]*+$")

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
        word_set(
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


def label_boilerplate(contents: list[str], labels: list[int], n: int) -> None:
    """Label legal notices and unsubscribe footers among the new-text lines.

    New-text lines are grouped into runs that only blank / separator lines split; in each run
    the strong patterns are searched over the run's text (so a notice wrapped over
    double-spaced lines is still found), and every line from the start of the sentence holding a
    match to the end of its paragraph is boilerplate.  Neighbouring paragraphs that carry
    boilerplate vocabulary are pulled in after that."""
    # (ahead of the run being looked at, every line is still NEW or QUOTED)
    first_para = True
    i = _index(labels, NEW, 0, n)
    while i < n:
        # one run: NEW lines up to the next non-NEW line
        j = _index(labels, QUOTED, i, n)
        first_para = _boilerplate_run(contents, labels, i, j, n, first_para)
        i = _index(labels, NEW, j, n)


def _index(values: Sequence[int], value: int, start: int, n: int) -> int:
    """Index of the first ``value`` in ``values[start:n]``, ``n`` if none."""
    try:
        return values.index(value, start, n)
    except ValueError:
        return n


def _boilerplate_run(
    contents: list[str], labels: list[int], a: int, b: int, n: int, first_para: bool
) -> bool:
    """Label the notices in the run of new-text lines ``[a, b)``.  Returns ``first_para`` for the next run:
    whether no text line came before it (an automated notification's first paragraph is its content)."""
    lines = contents[a:b]
    gate = _run_gate(lines)
    if gate is None:
        return first_para if not any(map(_is_text_line, lines)) else False
    present, allowed = gate
    paras = _paragraphs(contents, a, b)
    if not paras:
        return first_para
    text, spans, caseless = _run_text(contents, paras)
    # the strong patterns only run in windows of text around trigger words
    windows = _trigger_windows(text, present)
    if not windows:
        return False
    matches: list[tuple[int, int, bool]] = []  # (start, end, is "notfirst")
    for lo, hi in windows:
        if caseless:
            matches.extend(
                (m.start(), m.end(), m.lastgroup == "notfirst") for m in _BOILER_STRONG_CI_RE.finditer(text, lo, hi)
            )
        else:
            matches.extend(_strong_matches(text, lo, hi, allowed))
    marked = _notice_lines(contents, text, paras, spans, matches, first_para)
    if not marked:
        return False
    flags = _widen_notices(contents, paras, marked)
    for li in marked:
        labels[li] = BOILER
    for pi, (ps, pe) in enumerate(paras):
        if flags[pi]:
            _absorb_frame(contents, labels, ps, pe, n)
    return False


def _run_gate(lines: list[str]) -> tuple[set[str], frozenset[int] | None] | None:
    """Cheap gates on a run's raw lines: ``None`` when no notice can be in them, else (the gate words they
    hold, the strong alternatives that may match or ``None`` for all).

    The raw lines are looked at in lower case, the needles found in each line cached: the strong patterns
    run only near a trigger, and each alternative holds one of its literals (and, for some, one of its
    _BOILER_RAW_PARTS).  What the run's text holds, its raw lines hold: a space of the text is white space,
    a line break or left-out separator lines there.  No trigger or no alternative that may match: no
    boilerplate, and no text to build (a run without paragraphs has no letters either)."""
    needles = _needles_in(_LINE_GATE, lines, _GATE_NEEDLES)
    gate = [word for word in _BOILER_GATE if word in needles]
    if not gate:
        return None
    present = set(gate)
    joined = "\n".join(lines).replace("\u0130", "i")
    raw = joined.lower()
    if not any(word in needles for word, gate_word in _BOILER_TRIGGERS_WORD if gate_word in present) and not any(
        rx.search(raw) for rx, gate_word in _BOILER_TRIGGERS_SPACED if gate_word in present
    ):
        return None
    allowed: frozenset[int] | None = None  # the strong alternatives that may match
    if len(raw) == len(joined):  # (then lower() keeps the length of the run's text too)
        allowed = _boiler_possible(raw, _needles_in(_LINE_LITERALS, lines, _BOILER_WORD_LITERALS))
        if not allowed:
            return None
    return present, allowed


def _paragraphs(contents: list[str], a: int, b: int) -> list[tuple[int, int]]:
    """The paragraphs of the run ``[a, b)``: (first line, end line) of each stretch of text lines."""
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
    return paras


def _run_text(contents: list[str], paras: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int, int]], bool]:
    """The run's text, lower case and white space collapsed, with the (line, start, end) char span of every
    line; and whether it must be matched caselessly (``lower()`` would change its length)."""
    # the paragraphs' lines, white space collapsed (none is blank)
    collapsed = {li: _collapse(contents[li]) for ps, pe in paras for li in range(ps, pe)}
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
    if len(low) != len(text):  # lower() changed the length (rare letters): keep offsets, match caselessly
        return "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in text), spans, True
    return low, spans, False


def _trigger_windows(text: str, present: set[str]) -> list[tuple[int, int]]:
    """Windows of ``text`` around its trigger words (str.find is far faster than a regex alternation),
    merged where they overlap."""
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
    return windows


def _notice_lines(
    contents: list[str],
    text: str,
    paras: list[tuple[int, int]],
    spans: list[tuple[int, int, int]],
    matches: list[tuple[int, int, bool]],
    first_para: bool,
) -> set[int]:
    """The lines of the notices that the strong ``matches`` in the run's ``text`` belong to: from the start
    of the sentence holding a match (or the lines before it that read like the notice) to the end of the
    paragraph holding its end."""
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
    return marked


def _widen_notices(contents: list[str], paras: list[tuple[int, int]], marked: set[int]) -> list[bool]:
    """Add to ``marked`` the neighbouring paragraphs with boilerplate vocabulary and the blank / separator
    lines between two marked lines; -> per paragraph, whether it is (partly) a notice."""
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
            not contents[q].strip() or SEPARATOR_RE.match(contents[q].strip())
            for q in range(a_line + 1, b_line)
        ):
            marked.update(range(a_line + 1, b_line))
    return flags


def _collapse(line: str) -> str:
    """``" ".join(line.split())``: the line itself when it has no white space but single spaces inside."""
    if line.isascii() and line.isprintable() and "  " not in line and line[:1] != " " and line[-1:] != " ":
        return line
    return " ".join(line.split())


def _is_text_line(line: str) -> bool:
    """Neither blank nor a separator line ("-----", "* * *")."""
    s = line.strip()
    return bool(s) and (s[0] not in SEPARATOR_FIRST or SEPARATOR_RE.match(s) is None)


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
        return frozenset().union(*found)  # type: ignore[arg-type]  # no None in found: checked just above
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
    while k >= 0 and i - k <= 3 and labels[k] in (NEW, BOILER):
        s = contents[k].strip()
        if s:
            if SEPARATOR_RE.match(s):
                labels[k] = BOILER
                opened = _STARS_FRAME_RE.match(s) is not None
            break
        k -= 1
    k = j
    limit = min(n, j + (30 if opened else 3))
    while k < limit and labels[k] == NEW:
        s = contents[k].strip()
        if s and SEPARATOR_RE.match(s):
            for m in range(j, k + 1):
                labels[m] = BOILER
            return
        if s and not opened:
            return
        k += 1

