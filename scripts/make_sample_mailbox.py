"""Write the demo's sample mailbox: a small PR person's INBOX and Sent folder as two mbox files.

Everything in it is invented for outreach (people, outlets, domains under .example).  Run it again to
rebuild ``outreach/data/sample-mailbox/`` after editing the story below; the output is deterministic.

    python scripts/make_sample_mailbox.py
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "outreach" / "data" / "sample-mailbox"
ME = "Alex Rivera <alex@brightlane.example>"

# (id, date, from, to, subject, body, in_reply_to, extra headers)
STORY: list[tuple[str, str, str, str, str, str, str | None, dict[str, str]]] = [
    # Maya, a tech journalist: a long two-way relationship where favours went both ways.
    (
        "m1",
        "2025-03-04 09:12",
        ME,
        "Maya Chen <maya@techdaily.example>",
        "Coffee next week?",
        "Hi Maya,\n\nI enjoyed your piece on battery recycling. Would you have time for a coffee next week? "
        "I can tell you what our lab team is working on.\n\nBest,\nAlex",
        None,
        {},
    ),
    (
        "m2",
        "2025-03-04 15:40",
        "Maya Chen <maya@techdaily.example>",
        ME,
        "Re: Coffee next week?",
        "Hi Alex,\n\nHappy to. Thursday at 10 works for me.\n\nMaya\n\n> Would you have time for a coffee next week?",
        "m1",
        {},
    ),
    (
        "m3",
        "2025-05-20 11:02",
        "Maya Chen <maya@techdaily.example>",
        ME,
        "Intro to your CTO?",
        "Hi Alex,\n\nCould you introduce me to your CTO? I'm writing about grid storage and her view would help."
        "\n\nThanks,\nMaya",
        None,
        {},
    ),
    (
        "m4",
        "2025-05-21 08:30",
        ME,
        "Maya Chen <maya@techdaily.example>",
        "Re: Intro to your CTO?",
        "Hi Maya,\n\nAs promised, I've introduced you to Dana by email; she is expecting you.\n\nAlex",
        "m3",
        {},
    ),
    (
        "m5",
        "2025-05-28 17:15",
        "Maya Chen <maya@techdaily.example>",
        ME,
        "Thank you",
        "Alex,\n\nThank you so much for the introduction to Dana, the interview was great.\n\nMaya",
        None,
        {},
    ),
    (
        "m6",
        "2026-09-02 10:05",
        ME,
        "Maya Chen <maya@techdaily.example>",
        "Embargoed: our autumn launch",
        "Hi Maya,\n\nWould you consider covering our autumn launch? I've attached the embargoed release and "
        "I'm happy to set up a call with the team.\n\nBest,\nAlex",
        None,
        {},
    ),
    (
        "m7",
        "2026-09-03 09:48",
        "Maya Chen <maya@techdaily.example>",
        ME,
        "Re: Embargoed: our autumn launch",
        "Hi Alex,\n\nThanks for the early look at the release, that helps. I'll write it up for Tuesday.\n\nMaya",
        "m6",
        {},
    ),
    # Omar: one real exchange, long ago.
    (
        "o1",
        "2024-06-11 14:20",
        ME,
        "Omar Haddad <omar@citywire.example>",
        "Your panel at the summit",
        "Hi Omar,\n\nGreat panel yesterday. Could I send you our white paper on city fleets?\n\nAlex",
        None,
        {},
    ),
    (
        "o2",
        "2024-06-12 08:05",
        "Omar Haddad <omar@citywire.example>",
        ME,
        "Re: Your panel at the summit",
        "Sure, send it over.\n\nOmar",
        "o1",
        {},
    ),
    # Lena, a blogger: we wrote twice, she never answered.
    (
        "l1",
        "2026-02-10 09:00",
        ME,
        "Lena Fischer <lena@greenbytes.example>",
        "Story idea for Green Bytes",
        "Hi Lena,\n\nWould you be interested in a guest post about our recycling pilot?\n\nBest,\nAlex",
        None,
        {},
    ),
    (
        "l2",
        "2026-03-01 09:00",
        ME,
        "Lena Fischer <lena@greenbytes.example>",
        "Re: Story idea for Green Bytes",
        "Hi Lena,\n\nJust following up on my note below. Could you let me know if this is of interest?\n\nAlex",
        "l1",
        {},
    ),
    # A newsletter: they only ever sent us bulk mail.
    (
        "n1",
        "2026-08-01 06:00",
        "PressWire Weekly <news@presswire.example>",
        ME,
        "This week in tech PR",
        "Top stories this week.\n\nClick here to read more. To unsubscribe click here.",
        None,
        {"List-Unsubscribe": "<mailto:unsubscribe@presswire.example>", "Precedence": "bulk"},
    ),
    (
        "n2",
        "2026-09-01 06:00",
        "PressWire Weekly <news@presswire.example>",
        ME,
        "This week in tech PR",
        "Top stories this week.\n\nClick here to read more. To unsubscribe click here.",
        None,
        {"List-Unsubscribe": "<mailto:unsubscribe@presswire.example>", "Precedence": "bulk"},
    ),
    # Tom asked us to stop.
    (
        "t1",
        "2025-11-03 10:00",
        ME,
        "Tom Baker <tom@dailyplanet.example>",
        "Launch news from Brightlane",
        "Hi Tom,\n\nCould you share our launch news with your readers?\n\nAlex",
        None,
        {},
    ),
    (
        "t2",
        "2025-11-03 12:30",
        "Tom Baker <tom@dailyplanet.example>",
        ME,
        "Re: Launch news from Brightlane",
        "Alex,\n\nPlease remove me from your list. I don't cover this beat and I'm not interested.\n\nTom",
        "t1",
        {},
    ),
    # Priya: warm and recent, but our last ask is still unanswered.
    (
        "p1",
        "2026-04-14 13:00",
        "Priya Nair <priya@startupbeat.example>",
        ME,
        "Founders for my podcast",
        "Hi Alex,\n\nDo you know any founders who would talk about hardware startups on my podcast?\n\nPriya",
        None,
        {},
    ),
    (
        "p2",
        "2026-04-15 09:10",
        ME,
        "Priya Nair <priya@startupbeat.example>",
        "Re: Founders for my podcast",
        "Hi Priya,\n\nHere is the contact of our founder, Sam; he would love to join. I'm happy to help "
        "with anything else you need.\n\nAlex",
        "p1",
        {},
    ),
    (
        "p3",
        "2026-04-16 18:00",
        "Priya Nair <priya@startupbeat.example>",
        ME,
        "Re: Founders for my podcast",
        "Thanks a lot for connecting me with Sam, the episode is booked!\n\nPriya",
        "p2",
        {},
    ),
    (
        "p4",
        "2026-10-20 09:30",
        ME,
        "Priya Nair <priya@startupbeat.example>",
        "Would you share our report?",
        "Hi Priya,\n\nCould you share our hardware report with your listeners?\n\nThanks,\nAlex",
        None,
        {},
    ),
    # Jonas: a good relationship, but we asked him something very recently.
    (
        "j1",
        "2026-01-08 11:00",
        "Jonas Berg <jonas@nordicpodcast.example>",
        ME,
        "Guest for January",
        "Hi Alex,\n\nCould Dana join us as a guest in January?\n\nJonas",
        None,
        {},
    ),
    (
        "j2",
        "2026-01-08 16:00",
        ME,
        "Jonas Berg <jonas@nordicpodcast.example>",
        "Re: Guest for January",
        "Hi Jonas,\n\nYes, Dana will join you; I will send you her bio tomorrow.\n\nAlex",
        "j1",
        {},
    ),
    (
        "j3",
        "2026-01-09 09:00",
        ME,
        "Jonas Berg <jonas@nordicpodcast.example>",
        "Re: Guest for January",
        "Hi Jonas,\n\nAs promised, here is Dana's bio.\n\nAlex",
        "j2",
        {},
    ),
    (
        "j4",
        "2026-01-10 10:00",
        "Jonas Berg <jonas@nordicpodcast.example>",
        ME,
        "Re: Guest for January",
        "Perfect, thank you for the bio.\n\nJonas",
        "j3",
        {},
    ),
    (
        "j5",
        "2026-11-16 10:00",
        ME,
        "Jonas Berg <jonas@nordicpodcast.example>",
        "A favour",
        "Hi Jonas,\n\nCould you mention our meetup on the show next week?\n\nAlex",
        None,
        {},
    ),
    (
        "j6",
        "2026-11-16 15:00",
        "Jonas Berg <jonas@nordicpodcast.example>",
        ME,
        "Re: A favour",
        "I'll see what I can do.\n\nJonas",
        "j5",
        {},
    ),
]


def build(item: tuple[str, str, str, str, str, str, str | None, dict[str, str]]) -> EmailMessage:
    mid, when, sender, to, subject, body, reply_to, extra = item
    msg = EmailMessage()
    msg["Message-ID"] = f"<{mid}@sample.outreach.example>"
    msg["Date"] = format_datetime(datetime.strptime(when, "%Y-%m-%d %H:%M").replace(tzinfo=UTC))
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    if reply_to:
        msg["In-Reply-To"] = f"<{reply_to}@sample.outreach.example>"
    for key, value in extra.items():
        msg[key] = value
    msg.set_content(body + "\n")
    return msg


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    folders: dict[str, list[bytes]] = {"INBOX": [], "Sent": []}
    for item in STORY:
        folder = "Sent" if item[2] == ME else "INBOX"
        folders[folder].append(bytes(build(item)))
    for name, messages in folders.items():
        with (OUT / f"{name}.mbox").open("wb") as handle:
            for raw in messages:
                handle.write(b"From sample@outreach.example Thu Jan  1 00:00:00 2026\n")
                # mboxrd quoting of body lines that start with "From "
                for line in raw.replace(b"\r\n", b"\n").split(b"\n"):
                    handle.write((b">" + line if line.startswith(b"From ") else line) + b"\n")
                handle.write(b"\n")
    print(f"wrote {sum(len(m) for m in folders.values())} messages to {OUT}")


if __name__ == "__main__":
    main()
