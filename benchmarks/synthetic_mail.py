"""A synthetic but realistic PR-team mailbox, for benchmarks and large tests.

``generate_messages(n, seed)`` yields ``n`` RFC 822 messages (bytes, LF line ends as stored in a
Maildir) of one owner, ``owner@example.org``: about 80 % received, 20 % sent by the owner. The text is
generated here from our own phrase lists (nothing is copied from a real corpus):

- mostly plain text; about 20 % multipart/alternative (text + HTML), 4 % HTML only;
- about 1 % with a base64 attachment of 50-200 KB (PDF, DOCX, JPEG, XLSX);
- replies with ``> `` quotes or Outlook-style ``-----Original Message-----`` blocks, In-Reply-To and
  References pointing at earlier messages; a few forwards;
- newsletters with List-Id / List-Unsubscribe / Precedence: bulk;
- ~2,000 correspondents over ~300 domains, a Zipf-like spread of how often each one writes;
- unique Message-IDs, dates rising over 3 years (2022-2024) with working-hours bias, several time zones;
- typical size 2-8 KB; some non-ASCII names (RFC 2047) and bodies (quoted-printable).

Everything is deterministic for a given ``(n, seed)``.

``write_maildir(dir, messages, folder=None)`` writes messages straight into a Maildir (the fast way to
fill a Dovecot mailbox: ~50,000 messages in seconds); ``write_mailbox(dir, n, seed)`` writes received
mail to INBOX and the owner's own to ``Sent``.

Command line: ``python benchmarks/synthetic_mail.py OUT_MAILDIR -n 50000 --seed 1``.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import hashlib
import itertools
import os
import quopri
import random
import sys
import time
from collections.abc import Iterable, Iterator
from email.header import Header
from email.utils import format_datetime
from pathlib import Path

__all__ = [
    "OWNER",
    "OWNER_NAME",
    "Person",
    "generate_messages",
    "is_outbound",
    "write_mailbox",
    "write_maildir",
]

OWNER = "owner@example.org"
OWNER_NAME = "Robin Ashdown"
OWNER_DOMAIN = "example.org"
OWNER_COMPANY = "Ashdown & Vale Communications"

_START = dt.datetime(2022, 1, 3, tzinfo=dt.UTC)
_SPAN_SECONDS = 3 * 365 * 24 * 3600

# --------------------------------------------------------------------------------------------------
# Word lists (invented for this generator)
# --------------------------------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FIRST = _words(
    "Alex Amara Anders Anika Arjun Aurora Ben Bianca Camille Carlos Chen Chloe Dana Daniel Deepa "
    "Diego Elena Elif Emil Emma Farah Felix Fiona Gabriel Grace Hana Hugo Ines Isaac Ivy Jonas Julia "
    "Kai Karin Keisha Lars Layla Leo Lina Lucas Maya Marco Mei Mila Nadia Nate Nina Noah Olga Omar "
    "Oscar Paula Priya Quinn Rafael Rosa Ruth Sam Sara Sofia Tariq Tess Theo Uma Victor Vera Wen Will "
    "Yara Yusuf Zane Zoe Hannah Martin Irene Tom Laura Peter Naomi Henrik Ada Miles Clara Ravi Sonia "
    "Jack Greta"
)
_FIRST_ACCENTED = ("José", "Zoë", "Chloé", "Søren", "Renée", "Björn", "Inès", "François", "Łukasz", "Günther")
_LAST = _words(
    "Abbott Adler Baker Banerjee Barros Bauer Bell Blake Brandt Byrne Caldwell Castro Chandra Chow "
    "Cole Costa Dale Dalton Duarte Ellis Evans Farley Fischer Flynn Foster Garcia Gill Grant Hale "
    "Hart Hayes Holm Hughes Ibarra Ito Jensen Kaur Keane Khan Kim Klein Lang Larsen Lowe Mackay Malik "
    "Marsh Meyer Moreau Morris Nakamura Nash Novak Okafor Olsen Ortiz Park Patel Pryce Quint Reyes "
    "Ritter Rowe Saito Santos Schmidt Shaw Silva Singh Stone Strand Tanaka Tran Ueda Vance Varga "
    "Walsh Weber Wolfe Yates Young Zeller Lindqvist Moretti Achebe Dubois Kowalski Haddad Oyelaran "
    "Fontaine Whitlock"
)
_SYL = _words(
    "al an ar bel bri can cor dal del en fal fen gal har hel in kal ken lan lor mar mer nor ol pal "
    "per quin ral ren sal sol tal ten tor val ven wal wen zen ax ex on us ia ora ix um"
)
_DOMAIN_WORDS = _words(
    "daily herald gazette tribune courier times post observer wire review signal beacon ledger press "
    "report insight journal chronicle voice media news digest monitor dispatch bulletin"
)
_TLDS = ("com", "com", "com", "net", "org", "co.uk", "de", "fr", "io", "com.au", "ca", "nl", "es", "it")
_OUTLET_KIND = ("news", "magazine", "podcast", "blog", "trade")
_TITLES = {
    "journalist": (
        "Reporter",
        "Senior Correspondent",
        "Editor",
        "Features Editor",
        "News Desk",
        "Tech Writer",
        "Staff Writer",
        "Producer",
        "Contributing Editor",
        "Business Editor",
    ),
    "client": (
        "Head of Marketing",
        "CEO",
        "Founder",
        "Communications Lead",
        "VP Brand",
        "Product Marketing Manager",
    ),
    "colleague": (
        "Account Director",
        "Account Executive",
        "PR Manager",
        "Media Relations Lead",
        "Intern",
        "Partner",
    ),
    "vendor": ("Account Manager", "Sales Lead", "Customer Success", "Event Coordinator"),
    "newsletter": ("",),
}

_TOPICS = (
    "the product launch",
    "the Q3 results",
    "the new funding round",
    "the sustainability report",
    "the conference keynote",
    "the customer case study",
    "the partnership announcement",
    "the leadership hire",
    "the industry survey",
    "the app redesign",
    "the trade show",
    "the podcast series",
    "the award shortlist",
    "the charity campaign",
    "the holiday gift guide",
    "the data breach statement",
    "the spring collection",
    "the market expansion",
    "the whitepaper",
    "the press tour",
)
_SUBJECTS = (
    "Quick question about {topic}",
    "Embargoed: {topic}",
    "Interview request: {topic}",
    "Following up on {topic}",
    "Pitch: {topic}",
    "Draft for review - {topic}",
    "Coverage of {topic}",
    "Thanks for {topic}",
    "Can we chat about {topic}?",
    "Invitation: {topic}",
    "Update on {topic}",
    "Photos for {topic}",
    "Re-scheduling our call on {topic}",
    "Comment needed: {topic}",
    "Exclusive offer - {topic}",
    "Numbers for {topic}",
    "Your feedback on {topic}",
    "Briefing notes: {topic}",
)
_OPENERS = (
    "Hi {first},",
    "Hello {first},",
    "Dear {first},",
    "Hey {first},",
    "Good morning {first},",
    "{first},",
    "Hi {first}, hope you're well.",
    "Hi all,",
)
_SENTENCES = (
    "I wanted to follow up on {topic} before the end of the week.",
    "Would you be open to a short call on Thursday to go over {topic}?",
    "Thanks so much for including us in your piece last month, it made a real difference.",
    "I owe you one for the introduction to your editor.",
    "As promised, I'm attaching the fact sheet and the spokesperson bios.",
    "Happy to return the favour whenever you need a quote from our side.",
    "The embargo lifts on Tuesday at 9am Eastern, so please hold until then.",
    "Could you take a look at the draft and let me know if anything is off?",
    "Our client would love to offer you an exclusive first look at {topic}.",
    "We are still waiting for sign-off from legal, but it should come through tomorrow.",
    "Let me know if a different angle would work better for your readers.",
    "I've copied my colleague who is handling the logistics for {topic}.",
    "The numbers have been updated in the attached deck; the headline figure is now 14 percent.",
    "Apologies for the delay, the last two weeks have been hectic with {topic}.",
    "Would it help if we set up a demo for your team next week?",
    "We can make the CEO available for twenty minutes on Monday or Wednesday afternoon.",
    "Just checking whether this landed in your inbox, I know things are busy.",
    "Thanks again for your help with {topic}; really appreciated.",
    "I'm not sure this is a fit for us right now, but please keep me posted.",
    "Can you send over high-resolution images and a short caption for each?",
    "We ran the piece this morning; here is the link once it is live on the site.",
    "The press release is going out on the wire at noon, I'll forward you the final version.",
    "Our readers have been asking about {topic}, so the timing is good.",
    "Please treat the attached figures as background only, not for attribution.",
    "I'll be at the trade show in Berlin next month if you'd like to meet in person.",
    "No pressure at all, but if you could mention us in the round-up that would be great.",
    "We could do a joint webinar on {topic} if that is interesting for your audience.",
    "Thanks for the quick turnaround, the client was delighted with the coverage.",
    "I'm out of the office on Friday, so Thursday would be best for a call.",
    "Let me check with the team and come back to you by tomorrow.",
    "The spokesperson can speak to pricing but not to the roadmap.",
    "Do you have a deadline for this? I'd like to make sure we get you what you need in time.",
    "Sorry to chase, but we need to confirm the guest list by Wednesday.",
    "Here is a short summary of what we discussed on the phone earlier.",
    "I've added a few comments in the document, mostly small wording changes.",
)
_NON_ASCII_SENTENCES = (
    "We met at the café near the venue, the one with the crème brûlée.",
    "The Zürich office sends its regards — they loved the article.",
    "Our naïve first draft is attached; the résumé of the speaker is on page two.",
)
_CLOSINGS = (
    "Best,",
    "Thanks,",
    "Cheers,",
    "Kind regards,",
    "Many thanks,",
    "Best wishes,",
    "Talk soon,",
    "Warmly,",
)
_NEWSLETTER_TOPICS = (
    "This week in media",
    "Five stories you missed",
    "The PR Monday briefing",
    "Industry moves",
    "Your weekly digest",
    "Events this month",
    "Top pitches of the week",
    "Newsroom jobs",
)
_ATTACHMENTS = (
    ("application/pdf", "pdf", ("factsheet", "press-release", "media-kit", "report", "brief")),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
        ("draft", "statement", "bio", "q-and-a", "notes"),
    ),
    ("image/jpeg", "jpg", ("photo", "headshot", "product", "event", "logo")),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
        ("figures", "media-list", "budget", "results"),
    ),
)
_TZS = (0, 0, -5, -5, -8, -4, 1, 1, 2, 5.5, 9, 10)
_MAILERS = ("Microsoft Outlook 16.0", "Apple Mail (2.3654)", "Thunderbird 115.4.1", None, None, None)


@dataclasses.dataclass(frozen=True)
class Person:
    name: str
    address: str
    role: str
    title: str
    company: str
    phone: str
    tz_hours: float

    @property
    def first(self) -> str:
        return self.name.split()[0] if self.name else "there"


# --------------------------------------------------------------------------------------------------
# Correspondents
# --------------------------------------------------------------------------------------------------


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_SYL) for _ in range(syllables))


def _domains(rng: random.Random, count: int) -> list[tuple[str, str, str]]:
    """(domain, company name, kind) for ``count`` distinct invented domains."""
    seen: set[str] = {OWNER_DOMAIN}
    out: list[tuple[str, str, str]] = []
    while len(out) < count:
        kind = rng.choices(("outlet", "company", "agency", "newsletter"), (45, 40, 8, 7))[0]
        if kind == "outlet":
            stem = _word(rng, 2) + rng.choice(_DOMAIN_WORDS)
            company = f"The {stem[:1].upper()}{stem[1:]} {rng.choice(_OUTLET_KIND).title()}"
        elif kind == "newsletter":
            stem = rng.choice(_DOMAIN_WORDS) + _word(rng, 2)
            company = f"{stem.title()} Newsletter"
        else:
            stem = _word(rng, rng.randint(2, 3))
            suffix = rng.choice(("", "", "labs", "group", "hq", "tech", "studio", "foods", "energy"))
            stem = stem + suffix
            company = f"{stem.title()} {'Agency' if kind == 'agency' else 'Inc.'}"
        domain = f"{stem}.{rng.choice(_TLDS)}"
        if domain in seen:
            continue
        seen.add(domain)
        out.append((domain, company, kind))
    return out


def _people(rng: random.Random, count: int, domains: list[tuple[str, str, str]]) -> list[Person]:
    people: list[Person] = []
    used: set[str] = {OWNER}
    domain_weights = [1.0 / (i + 1) ** 0.6 for i in range(len(domains))]
    while len(people) < count:
        if rng.random() < 0.04:
            domain, company, kind = OWNER_DOMAIN, OWNER_COMPANY, "colleague"
        else:
            domain, company, kind = rng.choices(domains, domain_weights)[0]
        first = rng.choice(_FIRST_ACCENTED) if rng.random() < 0.03 else rng.choice(_FIRST)
        last = rng.choice(_LAST)
        if kind == "newsletter":
            local = rng.choice(("newsletter", "digest", "news", "hello", "updates", "noreply"))
            name, role = company, "newsletter"
        else:
            role = {"outlet": "journalist", "company": "client", "agency": "vendor"}.get(kind, kind)
            ascii_first = first.encode("ascii", "ignore").decode() or "x"
            pattern = rng.choice(("{f}.{l}", "{f}.{l}", "{f0}{l}", "{f}", "{f}{l0}", "{f}_{l}"))
            local = pattern.format(
                f=ascii_first.lower(), l=last.lower(), f0=ascii_first[0].lower(), l0=last[0].lower()
            )
            name = f"{first} {last}"
        address = f"{local}@{domain}"
        if address in used:
            continue
        used.add(address)
        phone = f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
        people.append(
            Person(name, address, role, rng.choice(_TITLES[role]), company, phone, rng.choice(_TZS))
        )
    return people


# --------------------------------------------------------------------------------------------------
# Message text
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Sent:
    message_id: str
    subject: str
    sender: Person
    recipients: list[Person]
    date: dt.datetime
    body: str
    references: list[str]


def _fmt_addr(person: Person) -> str:
    if not person.name:
        return f"<{person.address}>"
    try:
        person.name.encode("ascii")
    except UnicodeEncodeError:
        return f"{Header(person.name, 'utf-8').encode()} <{person.address}>"
    if any(c in person.name for c in ',.;:@&"()'):
        return f'"{person.name}" <{person.address}>'
    return f"{person.name} <{person.address}>"


def _paragraphs(rng: random.Random, topic: str, n_sentences: int) -> list[str]:
    sentences = [rng.choice(_SENTENCES).format(topic=topic) for _ in range(n_sentences)]
    if rng.random() < 0.04:
        sentences.insert(rng.randrange(len(sentences) + 1), rng.choice(_NON_ASCII_SENTENCES))
    paras: list[str] = []
    while sentences:
        k = min(len(sentences), rng.randint(1, 4))
        paras.append(" ".join(sentences[:k]))
        sentences = sentences[k:]
    return paras


def _wrap(text: str, width: int = 72) -> str:
    lines: list[str] = []
    for para in text.split("\n"):
        words = para.split(" ")
        line = ""
        for word in words:
            if line and len(line) + 1 + len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
    return "\n".join(lines)


def _signature(person: Person) -> str:
    if person.role == "newsletter":
        return ""
    lines = [person.name]
    if person.title:
        lines.append(f"{person.title} | {person.company}")
    lines.append(person.phone)
    return "\n".join(lines)


def _body_text(rng: random.Random, sender: Person, to: Person, topic: str, size_hint: int) -> str:
    opener = rng.choice(_OPENERS).format(first=to.first)
    paras = _paragraphs(rng, topic, size_hint)
    closing = rng.choice(_CLOSINGS)
    parts = [opener, *(_wrap(p) for p in paras), f"{closing}\n{sender.first}", "-- \n" + _signature(sender)]
    if rng.random() < 0.25:
        parts.append(
            _wrap(
                "CONFIDENTIALITY NOTICE: This e-mail and any attachments are intended only for the named "
                "recipient and may contain confidential information. If you have received it in error, "
                "please tell the sender and delete it. Thank you."
            )
        )
    return "\n\n".join(parts) + "\n"


def _quote(rng: random.Random, previous: _Sent) -> str:
    if rng.random() < 0.55:
        header = (
            f"On {format_datetime(previous.date)}, {previous.sender.name or previous.sender.address} "
            f"<{previous.sender.address}> wrote:"
        )
        quoted = "\n".join(("> " + line) if line else ">" for line in previous.body.rstrip("\n").split("\n"))
        return f"\n{_wrap(header)}\n{quoted}\n"
    to = "; ".join(p.name or p.address for p in previous.recipients)
    return (
        "\n-----Original Message-----\n"
        f"From: {previous.sender.name} [mailto:{previous.sender.address}]\n"
        f"Sent: {previous.date.strftime('%A, %B %d, %Y %I:%M %p')}\n"
        f"To: {to}\n"
        f"Subject: {previous.subject}\n\n"
        f"{previous.body}"
    )


def _html(text: str, newsletter: bool = False) -> str:
    import html

    paras = [p for p in text.split("\n\n") if p.strip()]
    body = "\n".join("<p>" + html.escape(p).replace("\n", "<br>\n") + "</p>" for p in paras)
    style = "font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#222"
    if newsletter:
        body = (
            '<table width="600" cellpadding="0" cellspacing="0" align="center" style="border:1px solid #ddd">'
            f'<tr><td style="padding:20px;{style}">\n{body}\n</td></tr></table>'
        )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title></title></head>\n'
        f'<body style="{style}">\n{body}\n</body></html>\n'
    )


def _encode_text(text: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, encoded body) for a text part."""
    try:
        return "7bit", text.encode("ascii")
    except UnicodeEncodeError:
        return "quoted-printable", quopri.encodestring(text.encode("utf-8"))


def _part(content_type: str, text: str) -> bytes:
    cte, payload = _encode_text(text)
    return (
        f'Content-Type: {content_type}; charset="utf-8"\nContent-Transfer-Encoding: {cte}\n\n'.encode()
        + payload
    )


def _boundary(rng: random.Random) -> str:
    return "----=_Part_" + "".join(rng.choice("0123456789abcdef") for _ in range(24))


# --------------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------------


def is_outbound(raw: bytes) -> bool:
    """True for a message sent by the owner (From: owner@example.org)."""
    head = raw.split(b"\n\n", 1)[0]
    for line in head.split(b"\n"):
        if line.lower().startswith(b"from:"):
            return OWNER.encode() in line.lower()
    return False


def generate_messages(
    n: int, seed: int = 0, *, correspondents: int = 2000, domains: int = 300
) -> Iterator[bytes]:
    """Yield ``n`` synthetic messages of ``owner@example.org``'s mailbox, oldest first (LF line ends)."""
    rng = random.Random(seed)
    domain_list = _domains(rng, domains)
    people = _people(rng, correspondents, domain_list)
    owner = Person(OWNER_NAME, OWNER, "owner", "Account Director", OWNER_COMPANY, "+1 555 010 2030", 0)
    newsletters = [p for p in people if p.role == "newsletter"]
    humans = [p for p in people if p.role != "newsletter"]
    weights = list(itertools.accumulate(1.0 / (i + 1) ** 0.75 for i in range(len(humans))))
    recent: list[_Sent] = []
    id_salt = hashlib.sha256(f"outreach-synthetic-{seed}".encode()).hexdigest()[:8]

    for i, when in enumerate(_dates(rng, n)):
        yield _one_message(rng, i, when, owner, humans, weights, newsletters, recent, id_salt)


def _dates(rng: random.Random, n: int) -> list[dt.datetime]:
    """``n`` sorted UTC times over 3 years; weekdays and working hours are more likely."""
    days = _SPAN_SECONDS // 86400
    stamps: list[float] = []
    while len(stamps) < n:
        day = rng.randrange(days)
        if (_START + dt.timedelta(days=day)).weekday() >= 5 and rng.random() < 0.75:
            continue
        stamps.append(day * 86400 + rng.triangular(6.5, 21, 10) * 3600)
    stamps.sort()
    return [_START + dt.timedelta(seconds=s) for s in stamps]


def _one_message(
    rng: random.Random,
    i: int,
    when: dt.datetime,
    owner: Person,
    humans: list[Person],
    weights: list[float],
    newsletters: list[Person],
    recent: list[_Sent],
    id_salt: str,
) -> bytes:
    kind_roll = rng.random()
    outbound = False
    newsletter = False
    previous: _Sent | None = None
    if kind_roll < 0.08 and newsletters:
        newsletter = True
        sender = rng.choice(newsletters)
        recipients = [owner]
    else:
        reply = bool(recent) and rng.random() < 0.3
        if reply:
            previous = rng.choice(recent[-300:])
            # Replies to the owner's mail come from one of its recipients, and the owner answers others.
            if previous.sender.address == OWNER:
                sender = rng.choice(previous.recipients)
                recipients = [owner]
            else:
                outbound = rng.random() < 0.6  # else the sender follows up on their own message
                sender, recipients = (owner, [previous.sender]) if outbound else (previous.sender, [owner])
        else:
            outbound = rng.random() < 0.12
            contact = rng.choices(humans, cum_weights=weights)[0]
            if outbound:
                sender = owner
                recipients = [contact]
                if rng.random() < 0.2:
                    recipients += rng.sample(humans[:200], rng.randint(1, 3))
            else:
                sender, recipients = contact, [owner]
    cc: list[Person] = []
    if not newsletter and rng.random() < 0.18:
        cc = [p for p in rng.sample(humans[:400], rng.randint(1, 3)) if p not in recipients and p != sender]

    tz = dt.timezone(dt.timedelta(hours=sender.tz_hours))
    date = when.astimezone(tz)
    domain = sender.address.split("@", 1)[1]
    message_id = f"<{i:07d}.{id_salt}.{rng.getrandbits(40):010x}@{domain}>"
    topic = rng.choice(_TOPICS)

    if newsletter:
        subject = f"{rng.choice(_NEWSLETTER_TOPICS)} - {date.strftime('%d %b %Y')}"
        body = "\n\n".join(_wrap(p) for p in _paragraphs(rng, topic, rng.randint(10, 22)))
        body += "\n\nYou are receiving this because you subscribed. Unsubscribe at any time.\n"
    elif previous is not None:
        prefix = "Fwd: " if rng.random() < 0.06 else "Re: "
        base_subject = previous.subject
        while base_subject[:4].lower() in ("re: ", "fwd:"):
            base_subject = base_subject.split(":", 1)[1].lstrip()
        subject = prefix + base_subject
        body = _body_text(rng, sender, recipients[0], topic, rng.randint(2, 8)) + _quote(rng, previous)
    else:
        subject = rng.choice(_SUBJECTS).format(topic=topic)
        body = _body_text(rng, sender, recipients[0], topic, int(rng.triangular(4, 30, 10)))

    headers = []
    if not outbound:
        hop = when - dt.timedelta(seconds=rng.randint(1, 40))
        headers.append(
            f"Return-Path: <{sender.address}>\n"
            f"Delivered-To: {OWNER}\n"
            f"Received: from mail.{domain} (mail.{domain} [192.0.2.{rng.randint(1, 254)}])\n"
            f"\tby mx.{OWNER_DOMAIN} with ESMTPS id {rng.getrandbits(48):012x}\n"
            f"\tfor <{OWNER}>; {format_datetime(when)}\n"
            f"Received: from [10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}] "
            f"(unknown [198.51.100.{rng.randint(1, 254)}])\n"
            f"\tby mail.{domain} with ESMTPSA id {rng.getrandbits(40):010x}; {format_datetime(hop)}\n"
            f"Authentication-Results: mx.{OWNER_DOMAIN};\n"
            f"\tdkim=pass header.d={domain} header.s=s{rng.randint(1, 3)};\n"
            f"\tspf=pass smtp.mailfrom={sender.address};\n"
            f"\tdmarc=pass header.from={domain}\n"
            f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=s1;\n"
            f"\tt={int(when.timestamp())}; h=from:to:subject:date:message-id:mime-version;\n"
            f"\tbh={base64.b64encode(rng.randbytes(32)).decode()};\n"
            f"\tb={_folded_b64(rng.randbytes(256))}"
        )
    headers += [
        f"Message-ID: {message_id}",
        f"Date: {format_datetime(date)}",
        f"From: {_fmt_addr(sender)}",
        f"To: {', '.join(_fmt_addr(p) for p in recipients)}",
    ]
    if cc:
        headers.append(f"Cc: {', '.join(_fmt_addr(p) for p in cc)}")
    try:
        subject.encode("ascii")
        headers.append(f"Subject: {subject}")
    except UnicodeEncodeError:
        headers.append(f"Subject: {Header(subject, 'utf-8').encode()}")
    references: list[str] = []
    if previous is not None:
        references = [*previous.references[-8:], previous.message_id]
        headers.append(f"In-Reply-To: {previous.message_id}")
        headers.append("References: " + "\n ".join(references))
    if newsletter:
        list_domain = domain
        headers += [
            f"List-Id: {sender.company} <news.{list_domain}>",
            f"List-Unsubscribe: <https://{list_domain}/unsubscribe?u={rng.getrandbits(64):016x}>, "
            f"<mailto:unsubscribe@{list_domain}>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "Precedence: bulk",
        ]
    mailer = rng.choice(_MAILERS)
    if mailer and not newsletter:
        headers.append(f"X-Mailer: {mailer}")
        if mailer.startswith("Microsoft"):
            headers.append(f"Thread-Index: {base64.b64encode(rng.randbytes(22)).decode()}")
            headers.append("Content-Language: en-US")
    headers.append("MIME-Version: 1.0")

    # Body structure.
    shape = rng.random()
    attach = not newsletter and rng.random() < 0.01
    if newsletter:
        parts = [_part("text/plain", body), _part("text/html", _html(body, newsletter=True))]
        content = _multipart(rng, "alternative", parts)
    elif shape < 0.04:
        content = _part("text/html", _html(body))
    elif shape < 0.24:
        content = _multipart(rng, "alternative", [_part("text/plain", body), _part("text/html", _html(body))])
    else:
        content = _part("text/plain", body)
    if attach:
        ctype, ext, stems = rng.choice(_ATTACHMENTS)
        filename = f"{rng.choice(stems)}-{date.strftime('%Y%m%d')}.{ext}"
        data = base64.encodebytes(rng.randbytes(rng.randint(50_000, 200_000)))
        attachment = (
            f'Content-Type: {ctype}; name="{filename}"\n'
            f'Content-Disposition: attachment; filename="{filename}"\n'
            "Content-Transfer-Encoding: base64\n\n"
        ).encode() + data
        content = _multipart(rng, "mixed", [content, attachment])

    recent.append(_Sent(message_id, subject, sender, recipients, date, body, references))
    if len(recent) > 600:
        del recent[:300]
    return "\n".join(headers).encode("ascii") + b"\n" + content


def _folded_b64(data: bytes) -> str:
    text = base64.b64encode(data).decode()
    return "\n\t ".join(text[i : i + 70] for i in range(0, len(text), 70))


def _multipart(rng: random.Random, subtype: str, parts: list[bytes]) -> bytes:
    boundary = _boundary(rng)
    out = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"\n\n'.encode()]
    if subtype == "mixed":
        out.append(b"This is a multi-part message in MIME format.\n")
    for part in parts:
        out.append(f"\n--{boundary}\n".encode())
        out.append(part.rstrip(b"\n") + b"\n")
    out.append(f"\n--{boundary}--\n".encode())
    return b"".join(out)


# --------------------------------------------------------------------------------------------------
# Writing a Maildir
# --------------------------------------------------------------------------------------------------

_counter = itertools.count()


def write_maildir(
    dir: str | os.PathLike[str],
    messages: Iterable[bytes],
    folder: str | None = None,
    *,
    flags: str = "S",
    uid: int | None = None,
    gid: int | None = None,
) -> int:
    """Write messages into the Maildir++ at ``dir``: INBOX (``folder=None``) or folder ``.FOLDER``.

    Files go straight to ``cur/`` with Maildir flags ``flags`` (default: seen). Creates ``cur/new/tmp``.
    With ``uid``/``gid`` (as root: the mail user of the IMAP server), files and dirs are chowned.
    Returns the number written.
    """
    root = Path(dir)
    target = root if folder is None or folder.upper() == "INBOX" else root / f".{folder}"
    for sub in ("cur", "new", "tmp"):
        (target / sub).mkdir(parents=True, exist_ok=True)
    if target != root:
        (target / "maildirfolder").touch()
    chown = uid is not None or gid is not None
    if chown:
        for p in (root, target, target / "cur", target / "new", target / "tmp"):
            os.chown(p, -1 if uid is None else uid, -1 if gid is None else gid)
    cur = target / "cur"
    stamp = int(time.time())
    pid = os.getpid()
    count = 0
    for raw in messages:
        path = cur / f"{stamp}.M{next(_counter)}P{pid}.synthetic,S={len(raw)}:2,{flags}"
        with open(path, "wb") as f:
            f.write(raw)
        if chown:
            os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)
        count += 1
    return count


def write_mailbox(
    dir: str | os.PathLike[str],
    n: int,
    seed: int = 0,
    *,
    sent_folder: str = "Sent",
    uid: int | None = None,
    gid: int | None = None,
) -> dict[str, int]:
    """Generate ``n`` messages into the Maildir at ``dir``: received to INBOX, the owner's to ``sent_folder``.

    Returns the count per folder.
    """
    inbox: list[bytes] = []
    sent: list[bytes] = []
    counts = {"INBOX": 0, sent_folder: 0}

    def flush() -> None:
        counts["INBOX"] += write_maildir(dir, inbox, None, uid=uid, gid=gid)
        counts[sent_folder] += write_maildir(dir, sent, sent_folder, uid=uid, gid=gid)
        inbox.clear()
        sent.clear()

    for raw in generate_messages(n, seed):
        (sent if is_outbound(raw) else inbox).append(raw)
        if len(inbox) + len(sent) >= 1000:
            flush()
    flush()
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("maildir", type=Path, help="Maildir to fill (created if missing)")
    parser.add_argument("-n", type=int, default=10_000, help="number of messages (default 10000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sent-folder", default="Sent")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    counts = write_mailbox(args.maildir, args.n, args.seed, sent_folder=args.sent_folder)
    print(f"{counts} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
