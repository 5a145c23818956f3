"""Independent ground truth of "who really corresponds with whom" in the Enron maildir sample.

Standard library only, and never an import from the project's own package: the verdicts made
here score that package, so they must come from an independent reading of the raw mail.

The data is Maildir++ mailboxes under one root: ``<box>/cur/`` holds the INBOX and
``<box>/.Sent_reconstructed/cur/`` a reconstructed Sent folder.  For each mailbox the
counterpart addresses (lower-cased ``local@domain`` from real From/To/Cc headers, never from
X-From/X-To) are put in at most one of :data:`CATEGORIES`.  Whatever fits none, or fits one
only doubtfully, is left out: a missing address is "no verdict", not a negative verdict.

Rules (each is explained again next to its code):

* Owner addresses: every From address of the Sent folder; plus, among the addresses of the
  mailbox's headers, the Exchange alias of the owner's X-From (``CN=ALIAS``) at an enron.com
  host, a local part spelling the owner's name (first.last, first.m.last, Enron's ``m.last``,
  last.first, first_last, initial+last, optionally with trailing digits) at any host, the
  bare last name or a five-letter-or-longer truncation of it at an enron.com host, the From of
  any message whose X-From display name is the owner's name, and the converter's clipped forms
  of these (first one or two characters lost).  Owner addresses are never classified.
* Recipients: the unique union of To and Cc.  Bcc, when present, always repeats Cc in this
  data, so it adds nothing.  Garbled recipients still count; they are never classified.
* Personal message: at most 5 recipients and no unsubscribe wording anywhere in the body.
  For mail written by the owner only the recipient count is required.
* Bulk message: more than 20 recipients, or unsubscribe wording in the sender's own text
  (above any quoted or forwarded part, so that a colleague forwarding a newsletter is not bulk).
* warm_clear: the owner wrote to them in a message with at most 5 recipients, and they wrote a
  personal message to an owner address.
* outbound_only: the owner wrote to them, they are the From of no message, and no X-From or
  quoted header of the mailbox may be theirs (they may have written from another address).
* bulk_only: the owner never wrote to the address nor, judging by their display name, to
  the same person at another address; every INBOX message from them is bulk.
* replied_quoting: as above the owner never wrote to them, and a personal message of theirs to
  an owner address has, as its topmost quoted header, a message authored by the owner: an
  Outlook ``From:`` block (``X on behalf of OWNER`` included), a Lotus Notes
  ``Name/ORG on DATE`` or ``addr on DATE`` line followed by ``To:``, or
  ``On DATE, NAME wrote:``.  ``Forwarded by OWNER`` lines and ``you wrote:`` do not count.
* stranger: in a From/To/Cc header of another mailbox, and neither the address, its local
  part, nor a "first last" / "last, first" spelling of it occurs anywhere in this mailbox's
  raw files; the first 60 by sha1 of the address.
* Distribution lists and systems (:data:`SYSTEM_LOCAL_RE`) are kept out of warm_clear,
  outbound_only and replied_quoting.
* as_of: the day after the latest Date header (in UTC), ignoring years outside 1997-2003.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email
import functools
import hashlib
import os
import re
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import policy
from email.utils import parsedate_to_datetime
from pathlib import Path

CATEGORIES = ("warm_clear", "outbound_only", "bulk_only", "stranger", "replied_quoting")

PERSONAL_MAX_RECIPIENTS = 5
BULK_MIN_RECIPIENTS = 21  # "more than 20"
STRANGER_SAMPLE = 60
INBOX_DIR = "cur"
SENT_DIR = ".Sent_reconstructed/cur"
FIRST_YEAR, LAST_YEAR = 1997, 2003  # Date headers outside this range are junk

# Wording that marks list or notification mail.  Matched case-insensitively on the body with
# whitespace collapsed.  "to be removed" alone is not enough ("needs to be removed prior to"),
# and "if you received this" is a legal disclaimer, not a list footer, so neither is listed.
UNSUBSCRIBE_PATTERNS = (
    r"unsubscri",
    r"remove you from",
    r"to be removed from (?:the|our|this|that|future|further|any|all|my|your)\b",
    r"to be removed\s*(?:[.,;:]|reply|send|click|e-?mail|please|simply)",
    r"\bopt[- ]?out\b",
    r"mailing list",
    r"manage (?:your )?(?:e-?mail |subscription |communication )?preferences",
    r"you are receiving this",
    r"to stop receiving",
    r"(?:do not|don't|no longer) (?:wish|want) to receive",
    r"discontinue receiving",
    r"prefer not to receive",
)
_UNSUB_RE = re.compile("|".join(UNSUBSCRIBE_PATTERNS), re.IGNORECASE)

# Local parts that are distribution lists or systems, not people.  Used only to keep such
# addresses out of warm_clear, outbound_only and replied_quoting.
SYSTEM_LOCAL_RE = re.compile(
    r"""^(?:
        all[._-].* | .*[._-]all | everyone.* | .*announce.* | enron[._]?(?:news|mail).*
      | mailer[._-]?daemon | postmaster | no[._-]?address | no[._-]?reply | do[._-]?not[._-]?reply
      | .*listserv.* | majordomo | owner-.* | .*-request | .*newsletter.* | news | webmaster
      | admin(?:istrator)? | mbx_.* | perfmgmt | arsystem | .*help[._-]?desk.* | info | sysadmin
      | confadmin | .*hotline.* | litigation[._].* | (?:.*[._-])?dl[._-].* | customer[._-]?service.*
      | subscriptions? | registrar | .*[._-]list
    )$""",
    re.VERBOSE,
)

# "40enron" is what the converter left of "+40ENRON" in IMCEANOTES addresses: many unrelated
# Notes senders share it, so it is not one correspondent.
ARTIFACT_LOCAL_RE = re.compile(r"^(?:40enron|imceanotes.*)$")

_ADDR_RE = re.compile(r"^[a-z0-9][a-z0-9._%+&=~'-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)+$")
_ENRON_HOST_RE = re.compile(r"(?:^|\.)enron\.com$")
_CN_RE = re.compile(r"/CN=([A-Za-z0-9]+)>?\s*$")


# --------------------------------------------------------------------------- addresses


def split_address_list(value: str | None) -> list[str]:
    """Addresses of a From/To/Cc header value, lower-cased, in order, duplicates kept.

    Commas inside double quotes or angle brackets do not split.  A part with ``<...>`` gives
    what is inside the brackets, otherwise the part itself; surrounding quotes are dropped.
    Written by hand (not ``email.utils.getaddresses``) so that the result does not change
    with the Python patch release.
    """
    if not value:
        return []
    value = re.sub(r"\s+", " ", value)
    parts: list[str] = []
    buf: list[str] = []
    in_quote = False
    depth = 0
    for ch in value:
        if ch == '"' and depth == 0:
            in_quote = not in_quote
        elif ch == "<" and not in_quote:
            depth += 1
        elif ch == ">" and not in_quote and depth:
            depth -= 1
        if ch == "," and not in_quote and depth == 0:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    out = []
    for part in parts:
        part = part.strip()
        if not part:
            continue
        m = re.search(r"<([^<>]*)>\s*$", part)
        addr = m.group(1) if m else part
        addr = addr.strip().strip("'\"").strip().lower()
        if addr:
            out.append(addr)
    return out


def is_address(addr: str) -> bool:
    """True for a syntactically usable ``local@domain`` (Enron's ``a..b`` local parts allowed)."""
    if not _ADDR_RE.match(addr):
        return False
    local = addr.split("@", 1)[0]
    return not local.endswith(".") and not ARTIFACT_LOCAL_RE.match(local)


def is_system_address(addr: str) -> bool:
    """True when the local part names a list or a system rather than a person."""
    return bool(SYSTEM_LOCAL_RE.match(addr.split("@", 1)[0]))


def count_recipients(to: str | None, cc: str | None, bcc: str | None = None) -> int:
    """Unique recipients of a message: the union of To and Cc.

    Bcc is accepted and ignored: in this data it always repeats Cc (checked on every file).
    """
    return len(set(split_address_list(to)) | set(split_address_list(cc)))


def has_unsubscribe_wording(text: str) -> bool:
    return bool(_UNSUB_RE.search(re.sub(r"\s+", " ", text)))


# --------------------------------------------------------------------------- names


def name_tokens(display: str) -> frozenset[str]:
    """Name words of a display name, lower-case, without initials, titles or org suffixes.

    ``Doe, Jane`` and ``Jane Doe/HOU/ECT@ECT`` give the same set; so do ``Roe, John Q.``
    and ``John Q Roe``.
    """
    s = display
    s = re.sub(r"\[mailto:[^\]]*\]", " ", s, flags=re.IGNORECASE)
    s = re.sub(r"<[^>]*>", " ", s)
    s = s.split("/", 1)[0]  # Lotus "Name/ORG/ORG@DOMAIN"
    s = re.sub(r"@\S*", " ", s)  # "Name@ENRON", and bare addresses are not names
    s = re.sub(r"\([^)]*\)", " ", s)
    words = re.findall(r"[a-z][a-z'-]*", s.lower())
    drop = {"jr", "sr", "ii", "iii", "mr", "mrs", "ms", "dr", "e-mail", "email"}
    return frozenset(w for w in words if len(w) > 1 and w not in drop)


def _display_name(x_header: str | None) -> str:
    """Display part of an X-From value: ``Doe, Jane </O=ENRON/...>`` gives ``Doe, Jane``."""
    if not x_header:
        return ""
    s = re.sub(r"\s+", " ", x_header)
    s = re.sub(r"<[^>]*>", "", s)
    s = re.sub(r"@ENRON\S*", "", s, flags=re.IGNORECASE)
    return s.strip().strip('"').strip()


# --------------------------------------------------------------------------- quotes


@dataclass(frozen=True)
class QuoteHeader:
    """One header of a quoted, forwarded or attributed message found in a body."""

    kind: str  # "outlook", "lotus", "wrote", "forwarded_by"
    who: str  # the author text as written (name, address or both)
    date: str  # the quoted date as text ("" when none)
    line: int  # 0-based line number in the body


_QUOTE_PREFIX = r"^[\s>|]*"
_ORIGINAL_RE = re.compile(_QUOTE_PREFIX + r"-{2,}\s*Original Message\s*-{2,}", re.IGNORECASE)
_FROM_LINE_RE = re.compile(_QUOTE_PREFIX + r"From:\s*(?P<who>\S.*?)\s*$", re.IGNORECASE)
_HEADER_FIELD_RE = re.compile(
    _QUOTE_PREFIX + r"(?P<field>Sent|Date|To|Cc|Subject):\s*(?P<value>.*?)\s*$", re.IGNORECASE
)
_DATE_TEXT = r"\d{1,2}/\d{1,2}/\d{2,4}(?:\s+\d{1,2}:\d{2}(?::\d{2})?(?:\s*[AP]M)?(?:\s*[A-Z]{2,4})?)?"
_FORWARDED_RE = re.compile(
    _QUOTE_PREFIX + r"-*\s*Forwarded by (?P<who>.+?) on (?P<date>" + _DATE_TEXT + r")", re.IGNORECASE
)
_LOTUS_RE = re.compile(_QUOTE_PREFIX + r"(?P<who>\S.{0,120}?)\s+on\s+(?P<date>" + _DATE_TEXT + r")\s*$")
_OUTLOOK_LOTUS_DATE_RE = re.compile(r"^(?P<who>.+?)\s+on\s+(?P<date>" + _DATE_TEXT + r")\s*$")
_WROTE_RE = re.compile(_QUOTE_PREFIX + r"(?P<body>\S.{0,200}?)\s+wrote:\s*$", re.IGNORECASE)
_TRAILING_AUTHOR_RE = re.compile(r"(?:\"[^\"]*\"\s*|[^,\"<>]*?\s)?<[^<>]+@[^<>]+>\s*$|\S+@\S+\s*$")


def _split_attribution(body: str) -> tuple[str, str]:
    """``On DATE, NAME <addr>`` (the text before "wrote:") split into (who, date)."""
    m = re.match(r"(?:On|At)\s+(?P<rest>.+)$", body, re.IGNORECASE)
    if not m:
        return body.strip(), ""
    rest = m.group("rest").strip()
    tail = _TRAILING_AUTHOR_RE.search(rest)
    if tail:
        return tail.group(0).strip(), rest[: tail.start()].strip().rstrip(",").strip()
    if "," in rest:
        date, who = rest.rsplit(",", 1)
        return who.strip(), date.strip()
    return rest, ""


def _looks_like_lotus_author(who: str) -> bool:
    """A Lotus header starts with the author: ``Name/ORG``, ``Name@ORG``, ``"Name" <addr>`` or ``addr``."""
    if len(who) > 120 or who.lower().startswith("from:"):
        return False
    return bool(re.search(r"[/@]", who))


def find_quote_headers(body: str) -> list[QuoteHeader]:
    """Headers of quoted, forwarded or attributed messages in ``body``, top to bottom.

    Outlook blocks count when a ``From:`` line is followed, within four lines, by a
    ``Sent:``/``Date:``/``To:`` line (that excludes prose starting with "From:").  A line
    ``From: Name/ORG on DATE`` is an Outlook-quoted Notes header and counts alone.  Lotus
    author lines (``Name/ORG on DATE``) count when a ``To:`` line follows within three lines.
    """
    lines = body.splitlines()
    out: list[QuoteHeader] = []
    for i, line in enumerate(lines):
        fwd = _FORWARDED_RE.match(line)
        if fwd:
            out.append(QuoteHeader("forwarded_by", fwd.group("who").strip(), fwd.group("date").strip(), i))
            continue
        m = _FROM_LINE_RE.match(line)
        if m:
            who = m.group("who")
            nested = _OUTLOOK_LOTUS_DATE_RE.match(who)
            if nested:
                out.append(QuoteHeader("outlook", nested.group("who").strip(), nested.group("date").strip(), i))
                continue
            date = ""
            is_header = False
            for nxt in lines[i + 1 : i + 5]:
                f = _HEADER_FIELD_RE.match(nxt)
                if f:
                    is_header = True
                    if f.group("field").lower() in ("sent", "date") and not date:
                        date = f.group("value").strip()
            if is_header:
                out.append(QuoteHeader("outlook", who.strip(), date, i))
            continue
        m = _LOTUS_RE.match(line)
        if m and _looks_like_lotus_author(m.group("who").strip()):
            following = lines[i + 1 : i + 4]
            if any(re.match(_QUOTE_PREFIX + r"To:", nxt, re.IGNORECASE) for nxt in following):
                out.append(QuoteHeader("lotus", m.group("who").strip(), m.group("date").strip(), i))
            continue
        m = _WROTE_RE.match(line)
        if m and not re.match(r"(?:From|To|Sent|Subject):", m.group("body"), re.IGNORECASE):
            who, date = _split_attribution(m.group("body"))
            if not date and i > 0:
                prev = re.sub(_QUOTE_PREFIX, "", lines[i - 1]).strip()
                if re.match(r"(?:On|At)\s", prev):  # "On Thu, 4 Oct 2001" on a line of its own
                    date = re.sub(r"^(?:On|At)\s+", "", prev).rstrip(",")
            out.append(QuoteHeader("wrote", who, date, i))
    return out


def _principal(who: str) -> str:
    """The author of an Outlook ``From:`` value: ``A on behalf of B`` and ``A On Behalf Of B`` give B."""
    parts = re.split(r"\s+on behalf of\s+", who, flags=re.IGNORECASE)
    return parts[-1]


def who_is(who: str, addresses: Iterable[str], names: Iterable[frozenset[str]]) -> bool:
    """True when a quoted author text names one of ``addresses`` or has exactly one of ``names``.

    A bare "you" never matches: ``At 10:21 AM 5/27/01, you wrote:`` does not say who "you" is
    when a message has several readers.
    """
    who = _principal(who)
    low = who.lower()
    found = {a.strip("'\".") for a in re.findall(r"[a-z0-9][\w.'+&=-]*@[a-z0-9.-]+", low)}
    # "addr@ENRON" (Notes) is not a domain address; compare the part before "@enron" too.
    if found & set(addresses):
        return True
    toks = name_tokens(who)
    return bool(toks) and any(toks == n for n in names)


# --------------------------------------------------------------------------- messages


@dataclass
class Message:
    name: str  # path relative to the mailbox: "cur/<file>" or ".Sent_reconstructed/cur/<file>"
    folder: str  # "inbox" or "sent"
    sender: str
    to: list[str]
    cc: list[str]
    x_from: str
    subject: str
    date: dt.datetime | None
    body: str
    raw_lower: str
    quotes: list[QuoteHeader] = field(default_factory=list)

    @property
    def recipients(self) -> set[str]:
        return set(self.to) | set(self.cc)

    def own_text(self) -> str:
        """The body above the first quoted, forwarded or attributed header (the sender's own words)."""
        lines = self.body.splitlines()
        cut = len(lines)
        for i, line in enumerate(lines):
            if _ORIGINAL_RE.match(line) or re.match(_QUOTE_PREFIX + r"-{5,}\s*Forwarded", line, re.IGNORECASE):
                cut = i
                break
        if self.quotes:
            cut = min(cut, self.quotes[0].line)
        return "\n".join(lines[:cut])


def _decode_body(msg: email.message.Message) -> str:
    parts = msg.walk() if msg.is_multipart() else [msg]
    chunks = []
    for part in parts:
        if part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            chunks.append(payload.decode("utf-8", "replace"))
    return "\n".join(chunks)


def _header(msg: email.message.Message, name: str) -> str:
    v = msg.get(name)
    return str(v) if v is not None else ""


def read_message(path: Path, folder: str) -> Message:
    raw = path.read_bytes().decode("utf-8", "replace")
    msg = email.message_from_string(raw, policy=policy.compat32)
    senders = split_address_list(_header(msg, "From"))
    date = None
    try:
        date = parsedate_to_datetime(_header(msg, "Date"))
    except (TypeError, ValueError, IndexError):
        date = None
    body = _decode_body(msg)
    m = Message(
        name=(INBOX_DIR if folder == "inbox" else SENT_DIR) + "/" + path.name,
        folder=folder,
        sender=senders[0] if senders else "",
        to=split_address_list(_header(msg, "To")),
        cc=split_address_list(_header(msg, "Cc")),
        x_from=_header(msg, "X-From"),
        subject=re.sub(r"\s+", " ", _header(msg, "Subject")).strip(),
        date=date,
        body=body,
        raw_lower=raw.lower(),
    )
    m.quotes = find_quote_headers(body)
    return m


def read_mailbox(root: Path, mailbox: str) -> list[Message]:
    """All messages of a mailbox, INBOX then Sent, each in file-name order (cached per path)."""
    return list(_read_mailbox_cached(str(Path(root).resolve()), mailbox))


@functools.lru_cache(maxsize=8)
def _read_mailbox_cached(root_s: str, mailbox: str) -> tuple[Message, ...]:
    root = Path(root_s)
    out = []
    for sub, folder in ((INBOX_DIR, "inbox"), (SENT_DIR, "sent")):
        d = root / mailbox / sub
        if d.is_dir():
            out.extend(read_message(p, folder) for p in sorted(d.iterdir()) if p.is_file())
    return tuple(out)


# --------------------------------------------------------------------------- owner


@dataclass(frozen=True)
class Owner:
    addresses: frozenset[str]
    names: tuple[str, ...]  # display forms of the owner's name seen in the mailbox
    name_key: frozenset[str]  # {first, last}: what name_tokens() gives for any of those forms
    aliases: frozenset[str]  # Exchange aliases (CN=...) of the owner's X-From, lower-case


def _owner_local_forms(first: str, last: str, initials: list[str]) -> set[str]:
    """Local parts (tokens joined by '.') that spell the owner's name."""
    f = first[0]
    forms = {f"{first}.{last}", f"{last}.{first}", f"{f}{last}", f"{first}{last}"}
    for i in initials:
        forms |= {f"{first}.{i}.{last}", f"{i}.{last}"}  # "vince.j.kaminski", Enron's "j.kaminski"
    return forms


def find_owner(messages: list[Message]) -> Owner:
    """The owner's addresses and names, from the Sent folder first, then the rules of the module doc."""
    sent = [m for m in messages if m.folder == "sent"]
    if not sent:
        raise ValueError("no Sent folder: the owner cannot be found")
    addresses = {m.sender for m in sent if m.sender}
    displays = {_display_name(m.x_from) for m in sent} - {""}
    aliases = {c.lower() for m in sent for c in _CN_RE.findall(m.x_from)}
    # First/last/initials from a "Last, First M" display (Exchange), else "First M Last" (Notes).
    first = last = ""
    initials: list[str] = []
    for d in sorted(displays):
        if "," in d:
            last_part, first_part = (s.strip() for s in d.split(",", 1))
            words = re.findall(r"[A-Za-z]+", first_part)
            if words:
                first, last = words[0].lower(), last_part.lower()
                initials = [w.lower() for w in words[1:] if len(w) == 1]
                break
    if not first:
        words = re.findall(r"[A-Za-z]+", sorted(displays)[0])
        first, last = words[0].lower(), words[-1].lower()
        initials = [w.lower() for w in words[1:-1] if len(w) == 1]
    key = frozenset({first, last})
    forms = _owner_local_forms(first, last, initials)

    def spells_owner(addr: str) -> bool:
        local, _, host = addr.partition("@")
        toks = [t for t in re.split(r"[._']+", local) if t]
        joined = ".".join(toks)
        if re.sub(r"\d+$", "", joined) in forms or re.sub(r"\d+$", "", local.replace("_", ".")) in forms:
            return True
        if _ENRON_HOST_RE.search(host):
            if local in aliases:
                return True
            if len(toks) == 1 and len(toks[0]) >= 5 and last.startswith(toks[0]):
                return True  # bare last name or a Notes truncation of it ("kamins")
            if len(toks) == 2 and toks[0] == last and toks[1].startswith(first):
                return True  # "kaminski.vincent"
        return False

    all_addrs: set[str] = set()
    for m in messages:
        all_addrs.update(a for a in [m.sender, *m.to, *m.cc] if a)
    for a in all_addrs:
        if spells_owner(a):
            addresses.add(a)
    # The converter sometimes dropped the first one or two characters of an address (X-To
    # shows "kamins@enron.com <v>", "aminski@aol.com"): a clipped form of an owner address,
    # five or more characters long, is the owner's too.
    clipped = {a[k:] for a in addresses for k in (1, 2) if len(a.split("@", 1)[0]) - k >= 5}
    addresses |= all_addrs & clipped
    names = set(displays)
    for m in messages:
        if m.sender and name_tokens(_display_name(m.x_from)) == key:
            addresses.add(m.sender)
            names.add(_display_name(m.x_from))
    # Display forms used in quoted headers of this mailbox (Lotus "First M Last/ORG" ...).
    for m in messages:
        for q in m.quotes:
            who = _principal(q.who)
            if name_tokens(who) == key:
                shown = re.sub(r"\s*(\[mailto:[^\]]*\]|<[^>]*>)\s*", "", who).split("@")[0].strip().strip('"')
                if re.fullmatch(r"[A-Za-z][A-Za-z .,'/-]*", shown) and " " in shown:
                    names.add(re.sub(r"\s+", " ", shown))
    names.add(f"{first.title()} {last.title()}")
    names = {n for n in names if n}
    addresses = {a for a in addresses if is_address(a)}
    return Owner(
        addresses=frozenset(addresses),
        names=tuple(sorted(names)),
        name_key=key,
        aliases=frozenset(aliases),
    )


def owner_quote(quotes: list[QuoteHeader], addresses: Iterable[str], name_key: frozenset[str]) -> QuoteHeader | None:
    """The topmost quoted header when it is that of a message authored by the owner, else None.

    Only the first header counts: it is the message being answered.  A "Forwarded by" line
    first means a forward; a "you wrote:" line names nobody; a quoted "To: owner" line is not
    a header at all.  None of these is a clear reply to the owner.
    """
    if not quotes:
        return None
    q = quotes[0]
    if q.kind == "forwarded_by":
        return None
    return q if who_is(q.who, addresses, [name_key]) else None


# --------------------------------------------------------------------------- truth


@dataclass(frozen=True)
class MailboxTruth:
    mailbox: str
    owner_addresses: frozenset[str]
    owner_names: tuple[str, ...]
    as_of: str
    categories: dict[str, str]
    evidence: dict[str, list[str]]


def _as_of(messages: list[Message]) -> str:
    """Day after the latest Date (taken in UTC), ignoring years outside 1997-2003."""
    dates = []
    for m in messages:
        if m.date is None:
            continue
        d = m.date if m.date.tzinfo else m.date.replace(tzinfo=dt.UTC)
        d = d.astimezone(dt.UTC)
        if FIRST_YEAR <= d.year <= LAST_YEAR:
            dates.append(d)
    if not dates:
        raise ValueError("no usable Date header")
    return (max(dates).date() + dt.timedelta(days=1)).isoformat()


@functools.lru_cache(maxsize=65536)
def _author_words(who: str) -> tuple[str, tuple[str, ...]]:
    low = who.lower()
    return low, tuple(re.findall(r"[a-z][a-z'-]*", re.sub(r"<[^>]*>|\[mailto:[^\]]*\]|@\S*|/\S*", " ", low)))


def could_be(addr: str, who: str) -> bool:
    """True when an author text (display name, quoted header) may name the owner of ``addr``.

    Used only to exclude doubtful cases, so it errs towards "yes": the address itself in the
    text; ``first.last`` with both words in the name; Enron's ``m..last`` with the last name and
    the initial; a single-word local part spelling initial+last, last+initial or first+last.
    """
    low, words = _author_words(who)
    if addr in low:
        return True
    if not words:
        return False
    local = re.sub(r"\d+$", "", addr.split("@", 1)[0])
    toks = [t for t in re.split(r"[._-]+", local) if t]
    long_toks = [t for t in toks if len(t) > 1]
    if len(set(words)) == 1 and long_toks and words[0] == long_toks[-1]:
        return True  # a bare last name ("Pereira") may be anyone of that name
    if len(long_toks) >= 2:
        return all(t in words for t in long_toks)
    if len(long_toks) == 1 and len(toks) >= 2:  # "e..dickson": initial + last
        last = long_toks[0]
        initials = [t for t in toks if len(t) == 1]
        return last in words and all(any(w[0] == i for w in words if w != last) for i in initials)
    if len(toks) == 1 and len(local) >= 4:
        for w in words:
            if len(w) >= 4 and local.endswith(w) and len(local) - len(w) <= 2:
                return True  # "rebrooks": one or two initials and the last name
            for v in words:
                if v == w:
                    continue
                if local in (w + v[0], v + w):
                    return True
                if local[0] == v[0] and len(local) >= 5 and w.startswith(local[1:]):
                    return True  # Exchange alias: initial + (truncated) last name, "scrensh"
    return False


def _files(names: list[str], shown: int = 3) -> str:
    more = f" (+{len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def ground_truth(root: Path, mailbox: str) -> MailboxTruth:
    """The categories of one mailbox (see the module doc for the rules)."""
    root = Path(root)
    messages = read_mailbox(root, mailbox)
    owner = find_owner(messages)
    own = owner.addresses

    def by_owner(m: Message) -> bool:
        return m.folder == "sent" or m.sender in own

    owner_to: dict[str, list[str]] = defaultdict(list)  # any owner message with them as recipient
    owner_personal_to: dict[str, list[str]] = defaultdict(list)  # ... with at most 5 recipients
    from_them: dict[str, list[Message]] = defaultdict(list)  # INBOX messages they sent (not the owner)
    any_from: set[str] = set()
    header_addrs: set[str] = set()
    for m in messages:
        header_addrs.update(a for a in [m.sender, *m.to, *m.cc] if a)
        if m.sender:
            any_from.add(m.sender)
        if by_owner(m):
            n = len(m.recipients)
            for r in m.recipients:
                if r in own:
                    continue
                owner_to[r].append(m.name)
                if n <= PERSONAL_MAX_RECIPIENTS:
                    owner_personal_to[r].append(m.name)
        elif m.folder == "inbox" and m.sender:
            from_them[m.sender].append(m)

    # Authors seen anywhere in the mailbox: the X-From of every message and the author of
    # every quoted header.  Someone seen as an author did write, possibly from another address,
    # so they cannot be "outbound only" with certainty.
    authors: set[str] = set()
    for m in messages:
        if not by_owner(m):
            authors.add(re.sub(r"\s+", " ", m.x_from))
        for q in m.quotes:
            if q.kind != "forwarded_by":
                authors.add(_principal(q.who))

    def seen_as_author(addr: str) -> bool:
        return any(could_be(addr, w) for w in authors)

    categories: dict[str, str] = {}
    evidence: dict[str, list[str]] = {}
    skipped: dict[str, str] = {}  # ambiguous addresses left out, with the reason (for debugging)

    def put(addr: str, cat: str, why: list[str]) -> None:
        assert addr not in categories, (addr, categories[addr], cat)
        categories[addr] = cat
        evidence[addr] = why

    candidates = sorted((set(owner_to) | set(from_them)) - own)
    for a in candidates:
        if not is_address(a):
            continue
        theirs = from_them.get(a, [])
        personal_to_owner = [
            m
            for m in theirs
            if m.recipients & own
            and len(m.recipients) <= PERSONAL_MAX_RECIPIENTS
            and not has_unsubscribe_wording(m.body)
        ]
        system = is_system_address(a)
        if a in owner_to:
            if a in owner_personal_to and personal_to_owner and not system:
                why = [
                    f"owner wrote personally: {_files(owner_personal_to[a])}",
                    f"they wrote personally: {_files([m.name for m in personal_to_owner])}",
                ]
                put(a, "warm_clear", why)
            elif a not in any_from and not system and not seen_as_author(a):
                why = [f"owner wrote: {_files(owner_to[a])}", "no message from them, not seen as an author"]
                put(a, "outbound_only", why)
            continue
        # The owner never wrote to this address.
        if not theirs:
            continue
        # ... but may have written to the same person at another address ("Baker, Ron" writes
        # from baker@enron.com, the owner wrote to ron.baker@enron.com): then it is ambiguous.
        shown = {_display_name(m.x_from) for m in theirs} - {""}
        alias_of = sorted(r for r in owner_to if any(could_be(r, d) for d in shown))
        if alias_of:
            skipped[a] = f"owner wrote to {alias_of[0]}, maybe the same person"
            continue
        bulk = [m for m in theirs if len(m.recipients) >= BULK_MIN_RECIPIENTS or has_unsubscribe_wording(m.own_text())]
        if len(bulk) == len(theirs):
            why = []
            for m in bulk[:3]:
                n = len(m.recipients)
                why.append(f"{m.name}: " + (f"{n} recipients" if n >= BULK_MIN_RECIPIENTS else "unsubscribe wording"))
            put(a, "bulk_only", why + [f"{len(bulk)} message(s) from them, all bulk; the owner never wrote to them"])
            continue
        if system:
            continue
        quoting = [(m, q) for m in personal_to_owner if (q := owner_quote(m.quotes, own, owner.name_key)) is not None]
        if quoting:
            put(
                a,
                "replied_quoting",
                [f"{m.name} quotes the owner ({q.kind}: {q.who!r}, date {q.date!r})" for m, q in quoting],
            )

    # Strangers: addresses of the other mailboxes' headers that leave no trace in this one.
    others: set[str] = set()
    for other in sorted(p.name for p in root.iterdir() if (p / INBOX_DIR).is_dir()):
        if other == mailbox:
            continue
        for m in read_mailbox(root, other):
            others.update(a for a in [m.sender, *m.to, *m.cc] if a)
    blob = "\n".join(m.raw_lower for m in messages)
    blob_ws = re.sub(r"\s+", " ", blob)

    def leaves_no_trace(a: str) -> bool:
        local = a.split("@", 1)[0]
        if a in blob or local in blob:
            return False
        toks = [t for t in re.split(r"[._-]+", local) if t]
        if len(toks) >= 2 and all(len(t) > 1 for t in (toks[0], toks[-1])):
            first, last = toks[0], toks[-1]
            if f"{first} {last}" in blob_ws or f"{last}, {first}" in blob_ws:
                return False
        return True

    strangers: list[str] = []
    for a in sorted(others - header_addrs - own, key=lambda a: (hashlib.sha1(a.encode()).hexdigest(), a)):
        if len(strangers) == STRANGER_SAMPLE:
            break
        if is_address(a) and leaves_no_trace(a):
            strangers.append(a)
    for a in strangers:
        put(a, "stranger", ["not in any header, body or raw file of this mailbox; seen in another mailbox"])

    assert not (set(categories) & own)
    assert set(categories.values()) <= set(CATEGORIES)
    return MailboxTruth(
        mailbox=mailbox,
        owner_addresses=own,
        owner_names=owner.names,
        as_of=_as_of(messages),
        categories=categories,
        evidence=evidence,
    )


def all_truths(root: Path) -> dict[str, MailboxTruth]:
    root = Path(root)
    boxes = sorted(p.name for p in root.iterdir() if (p / INBOX_DIR).is_dir() and (p / SENT_DIR).is_dir())
    return {b: ground_truth(root, b) for b in boxes}


# --------------------------------------------------------------------------- CLI


def default_root() -> Path:
    """``$OUTREACH_ENRON_DIR``, else ``../shared/data/enron-maildir`` next to the repository."""
    env = os.environ.get("OUTREACH_ENRON_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "enron-maildir"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Print the Enron correspondence ground truth.")
    p.add_argument("root", nargs="?", type=Path, default=None, help="maildir root (default: see default_root)")
    p.add_argument("--show", nargs=2, metavar=("MAILBOX", "CATEGORY"), help="list the addresses of one category")
    args = p.parse_args(argv)
    root = args.root or default_root()
    if args.show:
        box, cat = args.show
        if cat not in CATEGORIES:
            p.error(f"category must be one of {', '.join(CATEGORIES)}")
        t = ground_truth(root, box)
        for a in sorted(k for k, v in t.categories.items() if v == cat):
            print(a)
            for why in t.evidence[a]:
                print(f"    {why}")
        return 0
    truths = all_truths(root)
    print(f"{'mailbox':<12}" + "".join(f"{c:>17}" for c in CATEGORIES) + "   as_of")
    for box, t in truths.items():
        counts = {c: 0 for c in CATEGORIES}
        for c in t.categories.values():
            counts[c] += 1
        print(f"{box:<12}" + "".join(f"{counts[c]:>17}" for c in CATEGORIES) + f"   {t.as_of}")
    for box, t in truths.items():
        print(f"{box}: owner {', '.join(sorted(t.owner_addresses))}")
        print(f"{' ' * len(box)}  names {'; '.join(t.owner_names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
