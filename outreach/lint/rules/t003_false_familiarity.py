"""T003 false-familiarity: "as we discussed" to someone we never had a two-way exchange with."""

from __future__ import annotations

import re
from collections.abc import Sequence

from outreach.lint.facts import COLD_TIERS, MAX_EVIDENCE, RenderedFacts, TemplateFacts
from outreach.lint.findings import Evidence, Finding
from outreach.lint.rule import Rule, fails, passes
from outreach.lint.text import Match, matches

PHRASES = (
    "as we discussed",
    "as discussed",
    "as promised",
    "great catching up",
    "good catching up",
    "nice catching up",
    "great to catch up",
    "lovely to catch up",
    "great speaking with you",
    "great talking to you",
    "great chatting",
    "following up on our conversation",
    "following up on our call",
    "following up on our chat",
    "following up on our meeting",
    "per our conversation",
    "per our call",
    "further to our conversation",
    "thanks again for",
    "thank you again for",
    "as you know",
    "as always",
    "good to see you again",
    "great to see you again",
    "hope you remember me",
    "long time no see",
    "since we last spoke",
    "when we last spoke",
    "you mentioned",
    "like you said",
    "as you said",
    "old friend",
)
_PHRASE = re.compile(
    r"\b(?:" + "|".join(r"\s+".join(re.escape(w) for w in p.split()) for p in PHRASES) + r")\b", re.IGNORECASE
)
# The longest word of each phrase: a text that has none of them has none of the phrases.
_KEYWORDS = tuple(dict.fromkeys(max(p.split(), key=len) for p in PHRASES))
# In HTML a phrase may have tags between its words ("as we <em>discussed</em>"). A word of each phrase
# that ordinary prose seldom has: HTML without any of them holds none of the phrases.
_COMMON = frozenset(
    ("great", "good", "nice", "lovely", "thanks", "thank", "again", "always", "since", "when", "long", "time")
    + ("like", "as", "we", "you", "our", "to", "up", "on", "for", "no", "see", "me", "with")
)


def _html_word(phrase: str) -> str:
    words = phrase.split()
    return max((w for w in words if w not in _COMMON), key=len, default=max(words, key=len))


def _html_pattern(phrases: list[str]) -> re.Pattern[str]:
    between = r"(?:\s|<[^>]*>)+"  # white space or tags
    return re.compile("|".join(between.join(re.escape(w) for w in p.split()) for p in phrases))


# keyword -> the phrases that have it, as one pattern over lower-case HTML
_HTML_CHECKS = tuple(
    (word, _html_pattern([p for p in PHRASES if _html_word(p) == word]))
    for word in dict.fromkeys(_html_word(p) for p in PHRASES)
)


def find_familiarity(text: str) -> list[Match]:
    """Phrases that claim a prior relationship ("as we discussed", "thanks again for" …)."""
    lowered = text.lower()
    for word in _KEYWORDS:  # pre-filters: a word of a phrase, the phrase, then the regex
        if word in lowered:
            flat = " ".join(lowered.split())
            for phrase in PHRASES:
                if phrase in flat:
                    return matches(_PHRASE, text)
            return []
    return []


def _html_may_hold(html: str) -> bool:
    """Whether the HTML body's text may hold a phrase (then it is read as text, see RenderedFacts.text)."""
    if "&#" in html:  # letters written as character references
        return True
    lowered = html.lower()
    for word, pattern in _HTML_CHECKS:  # noqa: SIM110 - a loop, faster than any(): runs for every cold recipient
        if word in lowered and pattern.search(lowered) is not None:
            return True
    return False


def check_rendered(m: RenderedFacts) -> Sequence[Finding]:
    if m.tier not in COLD_TIERS:
        return ()
    hits = find_familiarity(m.text(_html_may_hold))
    if not hits:
        return ()
    phrase = hits[0].text
    evidence = [Evidence(f"tier {m.tier}: no two-way exchange with them")]
    evidence += [Evidence(f'rendered text: "{h.sentence}"', sentence=h.sentence) for h in hits[:MAX_EVIDENCE]]
    where = m.locate(phrase)
    return [
        RULE.finding(
            f'"{phrase}" claims a relationship we do not have (tier {m.tier})',
            evidence,
            path=where[0] if where else None,
            line=where[1] if where else None,
        )
    ]


def check_template(t: TemplateFacts) -> list[Finding]:
    """What a stranger would get: the template rendered for tier ``none``, so that a phrase inside
    ``{% if contact.tier == "warm" %}`` does not count."""
    tpl = t.template
    return [
        RULE.finding(
            f'"{hit.text}" claims a relationship; it blocks recipients of tier none or one-way '
            '(put it inside {% if contact.tier in ("warm", "strong") %})',
            [Evidence(f'"{hit.sentence}"', sentence=hit.sentence)],
            path=tpl.name,
            line=tpl.locate(hit.text) or tpl.first_line,
        )
        for hit in find_familiarity(t.stranger_visible())
    ]


RULE = Rule(
    code="T003",
    name="false-familiarity",
    severity="block",
    scope="recipient",
    doc="""
    The message claims a relationship that does not exist: "as we discussed", "great catching up",
    "following up on our conversation", "thanks again for" … sent to someone we never had a two-way exchange
    with (tier `none` or `one-way`). Faked familiarity is found out at once and burns trust for the whole
    team. Put such lines inside `{% if contact.tier in ("warm", "strong") %}…{% endif %}`, or drop them.
    """,
    cases=(
        fails(
            "as we discussed, to a stranger",
            text="Hi {{ first_name }},\n\nAs we discussed, our report is out.\n",
            ledger={"tier": "none", "last_two_way": ""},
        ),
        fails(
            "thanks again, to someone who never answered",
            text="Hi {{ first_name }},\n\nThanks again for your time last week.\n",
            ledger={"tier": "one-way", "last_two_way": ""},
        ),
        fails(
            "found by the template lint as well",
            mode="template",
            text="Hi {{ first_name }},\n\nGreat catching up at the fair!\n",
        ),
        fails(
            "in the HTML body only",
            text="Hi {{ first_name }},\n\nOur report is out.\n",
            html="<p>Hi {{ first_name }},</p><p>As we <em>discussed</em>, our report is out.</p>",
            ledger={"tier": "none", "last_two_way": ""},
        ),
        passes(
            "to a warm contact",
            text="Hi {{ first_name }},\n\nAs we discussed, our report is out.\n",
            ledger={"tier": "warm"},
        ),
        passes(
            "only said to warm contacts",
            text="Hi {{ first_name }},\n\n{% if contact.tier in ('warm', 'strong') %}As we discussed, "
            "o{% else %}O{% endif %}ur report is out.\n",
            ledger={"tier": "none", "last_two_way": ""},
        ),
        passes(
            "the template lint respects a tier condition",
            mode="template",
            text="Hi {{ first_name }},\n\n{% if contact.tier in ('warm', 'strong') %}Great catching up at the "
            "fair!{% endif %}\n",
        ),
    ),
    rendered=check_rendered,
    template=check_template,
)
