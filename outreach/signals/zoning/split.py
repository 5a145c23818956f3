"""The one forward pass over a body's lines that puts the zones together: quote prefixes and quoted
messages (:mod:`~outreach.signals.zoning.quotes`), then boilerplate
(:mod:`~outreach.signals.zoning.boilerplate`) and signature (:mod:`~outreach.signals.zoning.signature`)."""

from __future__ import annotations

from outreach.signals.zoning.boilerplate import label_boilerplate
from outreach.signals.zoning.quotes import (
    ATTR_FIRST,
    DASH_FIRST,
    FORWARD_FIRST,
    FORWARD_TEXT_STARTS,
    QUOTE_PREFIX_RE,
    detect_quote,
    next_nonblank_depth,
    relabel_separators_before,
)
from outreach.signals.zoning.signature import label_signature
from outreach.signals.zoning.zones import DROP, NEW, QUOTED, SEPARATOR_RE, QuotedHeader, Zones

__all__ = ["new_text", "split_zones", "split_zones_unguarded"]


def split_zones(text: str, max_chars: int = 20000) -> Zones:
    """Split ``text`` (a plain-text mail body) into :class:`Zones`.

    Only the first ``max_chars`` characters are scanned (cut back to the last line break in
    that prefix); text beyond them is in no zone.  ``\\r\\n`` / ``\\r`` line ends come back as
    ``\\n``.  Never raises: on any internal error the whole (scanned) text is returned as
    ``new_text``.
    """
    try:
        return split_zones_unguarded(text, max_chars)
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
        return split_zones_unguarded(text, max_chars, new_only=True).new_text
    except Exception:  # pragma: no cover - last-resort safety net, must never raise
        try:
            return str(text)[: max(0, int(max_chars))].strip()
        except Exception:
            return ""


def split_zones_unguarded(text: str, max_chars: int, new_only: bool = False) -> Zones:
    """The zones, raising on an internal error (:func:`split_zones` is the guarded form); with ``new_only``
    only ``new_text`` is right (the other zones are left empty)."""
    text = _scanned_text(text, max_chars)
    if not text.strip():
        return Zones("", "", "", "", ())
    lines = text.split("\n")
    n = len(lines)
    depths, contents = _quote_depths(lines, text)
    labels, headers = _label_quoted(contents, depths, n, new_only)
    label_boilerplate(contents, labels, n)
    label_signature(contents, labels, n)
    _drop_trailing_separators(contents, labels, n)
    if new_only:
        return Zones(_join([lines[k] for k in range(n) if labels[k] == NEW]), "", "", "", ())
    return _zones_of(lines, labels, headers)


def _scanned_text(text: str, max_chars: int) -> str:
    """The part of ``text`` that is scanned: a str, at most ``max_chars`` long (cut back to a line break),
    with ``\n`` line ends and no byte order mark."""
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
    return text


def _quote_depths(lines: list[str], text: str) -> tuple[list[int], list[str]]:
    """Per line, its ``>`` quote depth and its content without the quote prefix."""
    n = len(lines)
    depths = [0] * n
    contents = lines[:]
    for i, line in enumerate(lines) if ">" in text else ():
        if line.startswith((">", " ", "\t")):
            qm = QUOTE_PREFIX_RE.match(line)
            if qm is not None:
                prefix = qm.group()
                depths[i] = prefix.count(">")
                contents[i] = line[len(prefix) :]
    return depths, contents


def _label_quoted(
    contents: list[str], depths: list[int], n: int, new_only: bool
) -> tuple[list[int], list[QuotedHeader]]:
    """The forward pass: every line labelled NEW or QUOTED, and the headers of the quoted messages."""
    labels = [NEW] * n
    headers: list[QuotedHeader] = []
    in_quoted = False  # once a hard marker is met at top level, everything after is quoted
    # with new_only: from this line on, nothing can change the label of a line before the first hard
    # marker (a header found at line i may start at most 6 lines above it) -- all the rest is quoted
    settled = n
    i = 0
    while i < n:
        if i >= settled:
            labels[i:] = [QUOTED] * (n - i)
            break
        c = contents[i]
        s = c.strip()
        d = depths[i]
        if not s:
            if in_quoted or d > 0:
                labels[i] = QUOTED
            i += 1
            continue
        ch = s[0]
        # the lines detect_quote can take for a marker (it returns None for all others): a dash marker, a
        # header field, a line ending in ":", a forward text, or an attribution whose next line ends in ":"
        if (
            ch in DASH_FIRST
            or ":" in s[:24]
            or s[-1] == ":"
            or (ch in FORWARD_FIRST and s[:3].lower() in FORWARD_TEXT_STARTS)
            or (ch in ATTR_FIRST and i + 1 < n and contents[i + 1].rstrip()[-1:] == ":")
        ):
            hit = detect_quote(contents, depths, i, n, s)
        else:
            hit = None
        if hit is not None:
            start, end, header = hit
            headers.append(header)
            if not in_quoted and d == 0:
                inline = header.kind == "wrote" and next_nonblank_depth(contents, depths, end, n) > 0
                if not inline:
                    in_quoted = True
                    relabel_separators_before(contents, labels, depths, start)
                    if new_only:
                        settled = start + 8
            for k in range(start, end):
                labels[k] = QUOTED
            i = max(end, i + 1)
            continue
        if in_quoted or d > 0:
            labels[i] = QUOTED
            if d > 0 and not in_quoted and not headers:
                headers.append(QuotedHeader(None, None, None, None, "quote"))
        i += 1
    return labels, headers


def _drop_trailing_separators(contents: list[str], labels: list[int], n: int) -> None:
    """Separator lines ("-----", "_____") that end the new text lead nowhere."""
    for k in range(n - 1, -1, -1):
        if labels[k] != NEW:
            continue
        s = contents[k].strip()
        if not s:
            continue
        if not SEPARATOR_RE.match(s):
            break
        labels[k] = DROP


def _zones_of(lines: list[str], labels: list[int], headers: list[QuotedHeader]) -> Zones:
    """The zones from the labelled lines."""
    new_parts: list[str] = []
    quoted_parts: list[str] = []
    sig_parts: list[str] = []
    boiler_parts: list[str] = []
    buckets = (new_parts, quoted_parts, sig_parts, boiler_parts)
    for i in range(len(lines)):
        lab = labels[i]
        if lab != DROP:
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
