"""Quoted and forwarded mail: ``>`` quote prefixes, ``-----Original Message-----`` and forward markers,
Outlook ``From:/Sent:/To:/Subject:`` header blocks, Lotus Notes reply headers and ``On ... wrote:``
attributions, each parsed into a :class:`~outreach.signals.zoning.zones.QuotedHeader`.

:func:`detect_quote` is asked by the forward pass (:mod:`outreach.signals.zoning.split`) about the lines
that may start a quoted message; the ``*_FIRST`` / ``*_STARTS`` sets let that pass skip the others
without a call.
"""

from __future__ import annotations

import re

from outreach.signals.zoning.zones import EMAIL_RE, NEW, QUOTED, SEPARATOR_RE, QuotedHeader

__all__ = [
    "ATTR_FIRST",
    "DASH_FIRST",
    "FORWARD_FIRST",
    "FORWARD_TEXT_STARTS",
    "QUOTE_PREFIX_RE",
    "detect_quote",
    "next_nonblank_depth",
    "relabel_separators_before",
]

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

FORWARD_TEXT_STARTS = frozenset(("beg", "déb", "deb", "anf", "ini"))
FORWARD_FIRST = frozenset("bBdDaAiI")  # the characters whose lower case starts one of those
# first characters of the lines detect_quote may take for a marker without a ":" near their start or end:
# "-----Original Message-----" and other dash markers, "On ... / ... wrote:" attribution starts
_DETECT_FIRST = frozenset("-_=*OALEIWDPK")
DASH_FIRST = frozenset("-_=*")
ATTR_FIRST = _DETECT_FIRST - DASH_FIRST  # of _ATTR_START_RE's words

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
QUOTE_PREFIX_RE = re.compile(r"[ \t]*+>(?:[ \t]*+>)*+ ?")

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
# "inal Message-----": an Original Message marker whose start got lost
_BROKEN_MARKER_RE = re.compile(r"[^\n]{0,30}message[ \t]*-{3,}+[ \t]*+$", re.IGNORECASE)


def next_nonblank_depth(contents: list[str], depths: list[int], i: int, n: int) -> int:
    """Depth of the next non-blank line at or after ``i`` (within 3 lines), -1 if none."""
    for k in range(i, min(n, i + 4)):
        if contents[k].strip():
            return depths[k]
    return -1


def relabel_separators_before(contents: list[str], labels: list[int], depths: list[int], start: int) -> None:
    """Outlook puts a "_____" line before a reply header: it belongs to the quote, not the author."""
    k = start - 1
    while k >= 0 and labels[k] == NEW and depths[k] == 0:
        s = contents[k].strip()
        if s and not SEPARATOR_RE.match(s):
            if k == start - 1 and _BROKEN_MARKER_RE.match(s):
                labels[k] = QUOTED
            break
        if s:
            labels[k] = QUOTED
        k -= 1


def detect_quote(
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
    if s[:3].lower() in FORWARD_TEXT_STARTS and _FORWARD_TEXT_RE.match(s):
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
    return next_nonblank_depth(contents, depths, after, n) > d


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
    m = EMAIL_RE.search(value)
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
    addressish = _NOTES_ADDRESS_RE.fullmatch(s1) or (EMAIL_RE.search(s1) and len(s1) <= 100)
    if not strict and addressish and not s1.endswith((".", "?", "!", ",")):
        return l1, s1, None
    return None
