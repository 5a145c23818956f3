"""Turn raw RFC 822 bytes into a :class:`ParsedMessage`, fast and without ever raising.

The stdlib ``email`` package with ``policy.default`` parses ≈430 msg/s on these machines and ``compat32``
≈2,500 msg/s, too slow next to a ≈7,000 msg/s IMAP fetch.  So headers are split and unfolded here with
plain string operations, and MIME bodies are walked by boundary without building a message tree:
attachments are skipped unread and text is capped, so a huge attachment costs a scan, not a copy.
Helpers from ``email.utils``/``email.header`` are used for the fiddly parts (addresses, dates, encoded words).

Anything that goes wrong yields a message with ``parse_error`` set: the sync records it and goes on.
"""

from __future__ import annotations

import binascii
import hashlib
import html
import quopri
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.header import decode_header
from email.utils import getaddresses, parsedate_to_datetime

MAX_TEXT_CHARS = 100_000  # text kept per message; the rest is marked truncated
MAX_MIME_DEPTH = 8
MAX_QUOTE_DEPTH = 20  # "> " marks per line at most: 50,000 nested <blockquote> must not cost gigabytes
MANY_RECIPIENTS = 15  # more recipients than this and a message is not personal correspondence

ADDRESS_ROLES = ("from", "to", "cc", "bcc", "reply-to")

# Local parts of addresses that only ever send machine mail (archives without list headers, such as Enron's
# newsletters and ticket systems, are recognised by their senders).  The one list: parsing flags their mail
# automated, and the ledger treats every message from them so.
_MACHINE_SENDER = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|no\.address|mailer[-_.]daemon|postmaster|bounces?|webmaster"
    r"|notifications?|newsletters?|news|info|alerts?|marketing|updates?|automated|auto[-_.]?confirm"
    r"|announcements?|arsystem|listserv|majordomo|mailman)(?:[-+_.].*)?@",
    re.IGNORECASE,
)
# What a newsletter or a mass mailing says, usually at its foot, in the sender's own text: the body up to the
# first quoted or forwarded message, without ">" lines (a colleague forwarding or quoting a newsletter has
# not sent one).  Matched on the text with its white space collapsed.  The lookahead names the letters a
# footer can start with, so that the engine skips the other positions at once (43 % faster, same matches).
_BULK_FOOTER = re.compile(
    r"(?=[utopnwdmyrv])(?:"
    r"unsubscri|\bto opt[- ]?out\b|opt[- ]?out (?:link|here|instructions)|opt[- ]?out (?:of|from) (?:(?:this|these"
    r"|our|future|all|any|such) )*(?:e-?mails?|mailings?|lists?|newsletters?|communications?|messages)"
    r"|\bto be removed(?: from (?:(?:our|this|the|any|all|future|further) )*(?:mailing|list|distribution|e-?mail"
    r"|newsletter)|[,:]| reply| please| send| click| simply| e-?mail)"
    r"|prefer not to receive|(?:no longer|do not|don't) (?:wish|want) to receiv"
    r"|to stop receiving|(?:wish|want) to (?:stop|discontinue) receiving|discontinue receiving"
    r"|manage (?:your )?(?:e-?mail |subscription |communication |notification )?(?:preferences|settings"
    r"|subscriptions?)|update your (?:e-?mail |personal )?(?:preferences|profile|interests)"
    r"|you (?:are|were) receiving this|you received this (?:e-?mail|message|newsletter|notice)"
    r"|remove you from (?:our|this|the)|with the word \W?remove\b|\bremove\W? in the subject"
    r"|view (?:it |this (?:e-?mail|message|newsletter) )?(?:in|on) (?:your|a|the) (?:web )?browser"
    r"|this (?:e-?mail|message) was sent to \S+@"
    r")"
)
# Every footer above holds one of these (lower case): a text without any is no newsletter, at the cost of a
# few substring searches instead of the regex (which would try every position). ("subscri" and "settings"
# for "manage your subscription / settings" too; not "manage", which half of company mail says.)
_FOOTER_WORDS = (
    "subscri", "opt", "remov", "receiv", "prefer", "settings", "profile", "interests", "browser", "sent to",
)  # fmt: skip
# And one of these phrases, on the text with its white space collapsed (a second, narrower sieve: the words
# above are common in any mail, these are not).
_FOOTER_PHRASES = (
    "unsubscri", "opt-out", "opt out", "optout", "to be removed", "not to receiv", "wish to receiv",
    "want to receiv", "stop receiving", "discontinue receiving", "manage ", "update your", "receiving this",
    "received this", "remove", "browser", "was sent to",
)  # fmt: skip
_QUOTE_START = re.compile(  # on the lower-cased text
    r"^(?:-{2,}\s*(?:original message|forwarded)|on .{1,200}wrote:|from:\s.*\n(?:sent|date|to):|begin forwarded)"
    r"|forwarded by ",
    re.MULTILINE,
)
# Every quote start above holds one of these: the search begins on the line of the first one found (a few
# str.find calls instead of the regex trying every position of the body: a third of a plain import's parse).
_QUOTE_MARKERS = ("--", "wrote:", "from:", "begin forwarded", "forwarded by ")
_QUOTED_LINE = re.compile(r"^[ \t]*>.*$", re.MULTILINE)
_LINK = re.compile(r"<a\s[^>]*href", re.IGNORECASE)
_PIXEL = re.compile(  # a 1x1 image: a tracking pixel
    r"<img\b[^>]*\b(?:width=[\"']?1[\"'\s>][^>]*height=[\"']?1\b|height=[\"']?1[\"'\s>][^>]*width=[\"']?1\b)",
    re.IGNORECASE,
)
MASS_HTML_LINKS = 25  # an HTML body with more links than this is a mass mailing (a newsletter, a digest)


def is_machine_sender(address: str) -> bool:
    """An address whose mail is automated whatever its headers say (noreply@, webmaster@, news@ …)."""
    return _MACHINE_SENDER.match(address) is not None


def bulk_footer(text: str) -> bool:
    """Whether the sender's own text (the body up to the first quoted or forwarded message, ``>`` lines
    left out) carries newsletter wording: unsubscribe, "to be removed", manage preferences, "you are
    receiving this", view in browser …"""
    low = text.lower()
    if not any(word in low for word in _FOOTER_WORDS):
        return False
    flat = " ".join(low.split())
    if not any(phrase in flat for phrase in _FOOTER_PHRASES):
        return False
    first = min((at for at in (low.find(marker) for marker in _QUOTE_MARKERS) if at >= 0), default=-1)
    quote = None if first < 0 else _QUOTE_START.search(low, low.rfind("\n", 0, first) + 1)
    own = low if quote is None else low[: quote.start()]
    if ">" in own:
        own = _QUOTED_LINE.sub(" ", own)
    return _BULK_FOOTER.search(" ".join(own.split())) is not None


def mass_html(markup: str) -> bool:
    """Mass-mail HTML: a tracking pixel, or more links than a person writes."""
    if _PIXEL.search(markup):
        return True
    return any(count > MASS_HTML_LINKS for count, _ in enumerate(_LINK.finditer(markup), start=1))
_ENCODED_WORD = "=?"
_PARAM = re.compile(r';\s*([\w*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))')
_MSGID = re.compile(r"<([^<>\s]+)>")


@dataclass(slots=True)
class Address:
    address: str  # normalised: lower case, stripped
    name: str | None


@dataclass(slots=True)
class ParsedMessage:
    """What the store needs from one message."""

    message_key: str
    size: int
    message_id_header: str | None = None
    date: datetime | None = None
    subject: str = ""
    sender: Address | None = None
    recipients: dict[str, list[Address]] = field(default_factory=dict)  # role -> addresses (not "from")
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    is_bulk: bool = False
    is_list: bool = False
    is_automated: bool = False
    noise_reasons: list[str] = field(default_factory=list)
    body_text: str = ""
    text_truncated: bool = False
    parse_error: str | None = None
    _participants: list[tuple[str, Address]] | None = field(default=None, repr=False, compare=False)

    @property
    def recipient_count(self) -> int:
        return sum(len(v) for role, v in self.recipients.items() if role in ("to", "cc", "bcc"))

    def participants(self) -> list[tuple[str, Address]]:
        """(role, address) pairs, from first; an address appears once per role (computed once)."""
        if self._participants is not None:
            return self._participants
        out: list[tuple[str, Address]] = []
        if self.sender is not None:
            out.append(("from", self.sender))
        for role in ADDRESS_ROLES[1:]:
            seen: set[str] = set()
            for addr in self.recipients.get(role, ()):
                if addr.address not in seen:
                    seen.add(addr.address)
                    out.append((role, addr))
        self._participants = out
        return out


# --------------------------------------------------------------------------- headers


def split_head_body(raw: bytes) -> tuple[bytes, bytes]:
    """Split at the first blank line (CRLF or LF); a message without one is all header."""
    crlf = raw.find(b"\r\n\r\n")
    # A bare-LF blank line counts only before the first CRLF one: no need to scan the whole body for it.
    lf = raw.find(b"\n\n", 0, crlf) if crlf >= 0 else raw.find(b"\n\n")
    if lf >= 0:
        return raw[:lf], raw[lf + 2 :]
    if crlf >= 0:
        return raw[:crlf], raw[crlf + 4 :]
    return raw, b""


_SURROGATE = re.compile("[\ud800-\udfff]")
_NO_LONE_SURROGATES = frozenset({"utf-8", "utf8", "cp1252"})  # the common charsets cannot produce one


def _decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Decode with the declared charset, else UTF-8, else Windows-1252; never raises."""
    if charset:
        cs = charset.strip().strip('"').lower()
        if cs in ("us-ascii", "ascii", "ansi_x3.4-1968"):
            cs = "utf-8"  # real "ascii" mail often carries 8-bit text; UTF-8 is a safe superset
        elif cs in ("iso-8859-1", "latin1", "latin-1", "windows-1252"):
            cs = "cp1252"
        elif "escape" in cs or cs == "punycode":  # not mail charsets: unicode_escape interprets backslashes
            cs = "utf-8"
        try:
            text = data.decode(cs)
        except (LookupError, ValueError):  # unknown codec, bad bytes, a NUL in the name, codecs like "undefined"
            pass
        else:
            if cs not in _NO_LONE_SURROGATES and not text.isascii():
                # UTF-7 and a few others can decode to lone surrogates, which no store can encode
                text = _SURROGATE.sub("\ufffd", text)
            return text
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


# The headers outreach reads; everything else (Received, DKIM, …) is skipped by the scanner below.
WANTED_HEADERS = (
    "from",
    "sender",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "date",
    "subject",
    "message-id",
    "in-reply-to",
    "references",
    "list-id",
    "list-unsubscribe",
    "precedence",
    "auto-submitted",
    "x-autoreply",
    "x-autorespond",
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
)
# A header line is a wanted name right after a line break (the block is scanned with one prepended).  The
# literal "\n" lets the regex engine jump from line to line instead of trying every position, which is
# why the names are case-insensitive by character class rather than with re.IGNORECASE.
_HEADER_LINE = re.compile(
    r"\n("
    + "|".join("".join(f"[{c.upper()}{c}]" if c.isalpha() else re.escape(c) for c in h) for h in WANTED_HEADERS)
    + r")[ \t]*:[ \t]*(.*(?:\r?\n[ \t].*)*)"
)
_FOLD = re.compile(r"\r?\n[ \t]+")


def parse_headers(head: bytes) -> dict[str, list[str]]:
    """Unfold the headers outreach reads into lower-cased name -> values (raw, not yet decoded).

    One regex scan over the block: far cheaper than splitting every line of long Received/DKIM chains.
    """
    text = _decode_bytes(head)
    if "\x00" in text:  # no NUL reaches the store: PostgreSQL text cannot hold one
        text = text.replace("\x00", "")
    headers: dict[str, list[str]] = {}
    for match in _HEADER_LINE.finditer("\n" + text):
        value = match.group(2)
        if "\n" in value:
            value = _FOLD.sub(" ", value)
        headers.setdefault(match.group(1).lower(), []).append(value.strip())
    return headers


def _has_headers(head: bytes) -> bool:
    """Whether a block looks like a header block at all (``Name: value`` on its first line)."""
    first = head.split(b"\n", 1)[0]
    if first.startswith(b"From "):  # an mbox separator line left in place
        first = head.split(b"\n", 2)[1] if head.count(b"\n") >= 1 else b""
    colon = first.find(b":")
    return colon > 0 and b" " not in first[:colon].strip()


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words; garbage stays as it was."""
    if _ENCODED_WORD not in value:
        return value
    try:
        parts = decode_header(value)
    except (ValueError, LookupError, binascii.Error, AssertionError, HeaderParseError):
        return value
    out = []
    for chunk, charset in parts:
        out.append(_decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk)
    return "".join(out).replace("\x00", "").strip()  # "=?utf-8?q?=00?=" decodes to a NUL


def normalise_address(address: str) -> str | None:
    """Lower-case ``local@domain`` or ``None`` when it is not an address."""
    addr = address.strip().strip("<>'\"").strip().lower()
    if addr.startswith("mailto:"):
        addr = addr[7:]
    at = addr.rfind("@")
    if at <= 0 or at == len(addr) - 1 or " " in addr or len(addr) > 320:
        return None
    domain = addr[at + 1 :].rstrip(".")
    if ("." not in domain and domain != "localhost") or len(domain) > 253:  # 253: the longest DNS name
        return None
    return f"{addr[:at]}@{domain}"


_STRUCTURE = re.compile(r'[\\",<>()]')  # what delimits the items of an address list
_ANGLE = re.compile(r"<([^<>]*)>")
_COMMENT = re.compile(r"\(([^()]*)\)")
MAX_ADDRESS_HEADER_CHARS = 65_536  # of each address header read; a longer one is cut (a 1 MB To: is spam)
MAX_ADDRESSES = 500  # per header kind: enough to call a message bulk, and bounded work for the store
_MAX_ITEM_CHARS = 2_000  # an item longer than this is not an address
_MAX_SLOW_CHARS = 8_000  # email.utils.getaddresses is quadratic (group syntax) and recursive (comments)


def _split_address_items(value: str) -> list[str]:
    """Split an address list at top-level commas (not inside quotes, <...> or comments), in linear time.

    A regex over the whole list backtracks quadratically on hostile input such as a megabyte of ``<``.
    """
    items: list[str] = []
    start = 0
    quoted = angle = False
    depth = 0
    escaped = -1
    for match in _STRUCTURE.finditer(value):
        pos = match.start()
        if pos == escaped:
            continue
        char = match.group()
        if char == "\\":
            escaped = pos + 1
        elif quoted:
            quoted = char != '"'
        elif angle:
            angle = char != ">"
        elif depth:
            depth += 1 if char == "(" else -1 if char == ")" else 0
        elif char == '"':
            quoted = True
        elif char == "<":
            angle = True
        elif char == "(":
            depth = 1
        elif char == ",":
            items.append(value[start:pos])
            start = pos + 1
    items.append(value[start:])
    return items


def parse_address_list(values: list[str]) -> list[Address]:
    """Addresses from header values; a fast scanner for the usual forms, ``email.utils`` for the rest.

    Bounded work whatever the input: each header is read up to :data:`MAX_ADDRESS_HEADER_CHARS` and at
    most :data:`MAX_ADDRESSES` addresses are returned.
    """
    out: list[Address] = []
    for value in values:
        value = value[:MAX_ADDRESS_HEADER_CHARS]
        if (":" in value or ";" in value) and len(value) <= _MAX_SLOW_CHARS:  # group syntax and other rarities
            out.extend(_parse_addresses_slow(value))
        else:
            out.extend(_parse_addresses_fast(value, MAX_ADDRESSES - len(out)))
        if len(out) >= MAX_ADDRESSES:
            return out[:MAX_ADDRESSES]
    return out


def _parse_addresses_fast(value: str, limit: int) -> list[Address]:
    out: list[Address] = []
    for item in _split_address_items(value):
        item = item.strip().strip(";").strip()
        if not item or len(item) > _MAX_ITEM_CHARS:
            continue
        angle = _last_angle(item)
        if angle:
            addr, name = angle.group(1), item[: angle.start()] + item[angle.end() :]
        elif "<" in item:  # "Name <addr" without its ">"
            name, _, addr = item.rpartition("<")
        else:
            comment = _COMMENT.search(item)
            addr = _COMMENT.sub("", item)
            name = comment.group(1) if comment else ""
            if ":" in addr:  # "group: first@example.org" in a list too long for the slow path
                addr = addr.rsplit(":", 1)[1]
        if ":" in name and '"' not in name:
            name = name.rsplit(":", 1)[1]
        norm = normalise_address(addr)
        if norm is None:
            continue
        out.append(Address(norm, _clean_name(name)))
        if len(out) >= limit:
            break
    return out


def _last_angle(item: str) -> re.Match[str] | None:
    """The ``<addr>`` of an item: the last one with an ``@`` (a quoted name may hold "<b>" or "<script>")."""
    found = None
    for match in _ANGLE.finditer(item):
        if "@" in match.group(1) or found is None:
            found = match
    return found


def _clean_name(name: str) -> str | None:
    name = name.strip().strip("'\"").strip()
    if not name:
        return None
    return decode_words(name[:2000].replace('\\"', '"'))[:300] or None


def _parse_addresses_slow(value: str) -> list[Address]:
    try:
        pairs = getaddresses([value])
    except (ValueError, TypeError, IndexError, RecursionError):
        return []
    out = []
    for name, addr in pairs[:MAX_ADDRESSES]:
        norm = normalise_address(addr)
        if norm is not None:
            out.append(Address(norm, _clean_name(name) if name else None))
    return out


def _params(value: str) -> tuple[str, dict[str, str]]:
    main = value.split(";", 1)[0].strip().lower()
    if ";" not in value:
        return main, {}
    params = {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)) for m in _PARAM.finditer(value)
    }
    return main, params


def parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if not 1970 <= parsed.year <= 2100:
        return None
    return parsed.astimezone(UTC)


def message_ids(value: str | None) -> list[str]:
    if not value:
        return []
    return [m[:250] for m in _MSGID.findall(value)]


# --------------------------------------------------------------------------- bodies


_HTML_DROP_START = re.compile(r"<(script|style|head|title)\b|<!--", re.IGNORECASE)
_HTML_DROP_END = {
    name: re.compile(rf"</{name}\s*>", re.IGNORECASE) for name in ("script", "style", "head", "title")
}
_HTML_TOKEN = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*>|<[^>]*>|([^<]+)")
_HTML_BLOCK = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "hr", "ul", "ol"})


def _drop_invisible(markup: str) -> str:
    """Replace script/style/head/title elements and comments by a space, in linear time.

    An element without its end tag is left in place, as before; once an end tag is known to be missing,
    later starts of that element are not searched again (that search is what made a regex quadratic).
    """
    out: list[str] = []
    pos = 0
    unclosed: set[str] = set()
    search_from = 0
    while True:
        start = _HTML_DROP_START.search(markup, search_from)
        if start is None:
            break
        name = (start.group(1) or "!--").lower()
        if name in unclosed:
            search_from = start.end()
            continue
        if name == "!--":
            end_at = markup.find("-->", start.end())
            end = -1 if end_at < 0 else end_at + 3
        else:
            found = _HTML_DROP_END[name].search(markup, start.end())
            end = -1 if found is None else found.end()
        if end < 0:
            unclosed.add(name)
            search_from = start.end()
            continue
        out.append(markup[pos : start.start()])
        out.append(" ")
        pos = search_from = end
    out.append(markup[pos:])
    return "".join(out)


def html_to_text(markup: str) -> str:
    """Readable text from HTML: block elements become line breaks, blockquotes become "> " quotes.

    A regex tokenizer rather than ``html.parser``: about ten times faster, and broken markup cannot
    make it fail.
    """
    markup = _drop_invisible(markup)
    # Everything after the last ">" is text: no tag can end there.  (Tokenizing it with the regex would
    # retry every "<" to the end of the input: quadratic, minutes for a few hundred KB of "<".)
    last = markup.rfind(">")
    tokens = _HTML_TOKEN.findall(markup[: last + 1])
    if last + 1 < len(markup):
        tokens.append(("", "", markup[last + 1 :].replace("<", "")))
    lines: list[str] = []
    current: list[str] = []
    depth = 0

    def flush() -> None:
        text = " ".join(html.unescape("".join(current)).split())
        if text:
            lines.append("> " * min(depth, MAX_QUOTE_DEPTH) + text)
        elif lines and lines[-1] != "":
            lines.append("")
        current.clear()

    for closing, tag, text in tokens:
        if text:
            current.append(text)
            continue
        tag = tag.lower()
        if tag == "blockquote":
            flush()
            depth = max(0, depth - 1) if closing else depth + 1
        elif tag in _HTML_BLOCK:
            flush()
    flush()
    return "\n".join(lines).strip()


def _decode_transfer(body: bytes, cte: str) -> bytes:
    cte = cte.strip().lower()
    if cte == "base64":
        try:
            return binascii.a2b_base64(body)
        except binascii.Error:
            # Damaged base64: keep what decodes line by line.
            out = []
            for line in body.split(b"\n"):
                try:
                    out.append(binascii.a2b_base64(line))
                except binascii.Error:
                    continue
            return b"".join(out)
    if cte == "quoted-printable":
        return quopri.decodestring(body)
    return body


@dataclass(slots=True)
class _TextParts:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    truncated: bool = False
    mass_html: bool = False


def _walk(headers: dict[str, list[str]], body: bytes, parts: _TextParts, depth: int) -> None:
    ctype, params = _params(headers.get("content-type", ["text/plain"])[0] or "text/plain")
    disposition = headers.get("content-disposition", [""])[0].lower()
    if ctype.startswith("multipart/") and depth < MAX_MIME_DEPTH:
        boundary = params.get("boundary")
        if boundary:
            for part in _split_multipart(body, boundary.encode("utf-8", "replace")):
                head, sub_body = split_head_body(part)
                # A part that starts with a blank line has no headers at all.
                if part.startswith((b"\r\n", b"\n")):
                    head, sub_body = b"", part.lstrip(b"\r\n")
                _walk(parse_headers(head), sub_body, parts, depth + 1)
            return
        ctype = "text/plain"  # multipart without a boundary: read it as text rather than lose it
    if disposition.startswith("attachment") or not ctype.startswith("text/"):
        return  # attachments and non-text parts are skipped unread
    limit = MAX_TEXT_CHARS * 4  # bytes are decoded before the character cap is applied
    if len(body) > limit:
        body = body[:limit]
        parts.truncated = True
    cte = headers.get("content-transfer-encoding", ["7bit"])[0]
    text = _decode_bytes(_decode_transfer(body, cte), params.get("charset"))
    if ctype == "text/html":
        parts.html.append(text)
        parts.mass_html = parts.mass_html or mass_html(text)
    else:
        parts.plain.append(text)


def _split_multipart(body: bytes, boundary: bytes) -> list[bytes]:
    delimiter = b"--" + boundary
    chunks = body.split(delimiter)
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break  # closing delimiter
        parts.append(chunk[2:] if chunk.startswith(b"\r\n") else chunk[1:] if chunk.startswith(b"\n") else chunk)
    return parts


def extract_text(headers: dict[str, list[str]], body: bytes) -> tuple[str, bool, bool]:
    """The message's readable text (plain preferred, else HTML converted), whether it was truncated, and
    whether its HTML looks like a mass mailing (see :func:`mass_html`)."""
    parts = _TextParts()
    _walk(headers, body, parts, 0)
    if parts.plain:
        text = "\n\n".join(parts.plain)
    elif parts.html:
        text = html_to_text("\n".join(parts.html))
    else:
        text = ""
    text = text.replace("\r\n", "\n").replace("\x00", "")
    truncated = parts.truncated
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS]
        truncated = True
    return text, truncated, parts.mass_html


# --------------------------------------------------------------------------- noise


def classify_noise(
    headers: dict[str, list[str]],
    sender: Address | None,
    recipient_count: int,
    text: str = "",
    html_mass: bool = False,
) -> tuple[bool, bool, bool, list[str]]:
    """(is_bulk, is_list, is_automated, reasons) from headers, sender, the number of recipients and the
    body: newsletters without List-* headers are told by their footer and their HTML."""
    reasons: list[str] = []
    is_list = is_bulk = is_automated = False
    if "list-id" in headers:
        is_list = True
        reasons.append("list-id")
    if "list-unsubscribe" in headers:
        is_bulk = True
        reasons.append("list-unsubscribe")
    precedence = headers.get("precedence", [""])[0].strip().lower()
    if precedence in ("bulk", "junk"):
        is_bulk = True
        reasons.append(f"precedence:{precedence}")
    elif precedence == "list":
        is_list = True
        reasons.append("precedence:list")
    auto = headers.get("auto-submitted", ["no"])[0].strip().lower()
    if auto and not auto.startswith("no"):
        is_automated = True
        reasons.append(f"auto-submitted:{auto.split(';')[0]}")
    if "x-autoreply" in headers or "x-autorespond" in headers:
        is_automated = True
        reasons.append("autoreply")
    if sender is not None and is_machine_sender(sender.address):
        is_automated = True
        reasons.append("no-reply sender")
    if html_mass:
        is_bulk = True
        reasons.append("mass-mail HTML")
    if recipient_count > MANY_RECIPIENTS:
        is_bulk = True
        reasons.append(f"{recipient_count} recipients")
    if is_list:
        is_bulk = True
    # Last, and only when nothing above told: the body's footer is the one costly test (a sixth of a parse).
    if not is_bulk and text and bulk_footer(text):
        is_bulk = True
        reasons.append("unsubscribe footer")
    return is_bulk, is_list, is_automated, reasons


# --------------------------------------------------------------------------- entry point


def _content_key(sender: str, date: str, subject: str, text: str) -> str:
    digest = hashlib.sha1(f"{sender}\x00{date}\x00{subject}\x00{text[:2000]}".encode("utf-8", "replace"))
    return "sha1:" + digest.hexdigest()


def parse_message(raw: bytes, fallback_date: datetime | None = None) -> ParsedMessage:
    """Parse one message; never raises (errors end up in ``parse_error``)."""
    try:
        return _parse(raw, fallback_date)
    except Exception as exc:  # noqa: BLE001 - a malformed message must never stop a sync
        return ParsedMessage(
            message_key="raw:" + hashlib.sha1(raw).hexdigest(),
            size=len(raw),
            date=fallback_date,
            parse_error=f"{type(exc).__name__}: {exc}".replace("\x00", "")[:500],
        )


def _parse(raw: bytes, fallback_date: datetime | None) -> ParsedMessage:
    head, body = split_head_body(raw)
    if not _has_headers(head):
        raise ValueError("no headers")
    headers = parse_headers(head)
    first = {k: v[0] for k, v in headers.items()}
    senders = parse_address_list(headers.get("from", [])) or parse_address_list(headers.get("sender", []))
    sender = senders[0] if senders else None
    recipients = {role: parse_address_list(headers.get(role, [])) for role in ("to", "cc", "bcc", "reply-to")}
    date_raw = first.get("date")
    date = parse_date(date_raw) or fallback_date
    subject = decode_words(first.get("subject", "")[:16_000])[:2000]
    text, truncated, html_mass = extract_text(headers, body)
    ids = message_ids(first.get("message-id"))
    key = ids[0] if ids else _content_key(sender.address if sender else "", date_raw or "", subject, text)
    parsed = ParsedMessage(
        message_key=key,
        size=len(raw),
        message_id_header=first["message-id"][:998] if "message-id" in first else None,
        date=date,
        subject=subject,
        sender=sender,
        recipients={k: v for k, v in recipients.items() if v},
        in_reply_to=next(reversed(message_ids(first.get("in-reply-to"))), None),
        references=message_ids(first.get("references"))[-20:],
        body_text=text,
        text_truncated=truncated,
    )
    parsed.is_bulk, parsed.is_list, parsed.is_automated, parsed.noise_reasons = classify_noise(
        headers, sender, parsed.recipient_count, text, html_mass
    )
    return parsed
