"""T004 favour-ask: the sentences where the template asks the reader for something (info)."""

from __future__ import annotations

from outreach.lint.facts import MAX_EVIDENCE, CampaignFacts, TemplateFacts
from outreach.lint.findings import Evidence, Finding
from outreach.lint.rule import Rule, fails, passes
from outreach.lint.template import template_asks


def check_campaign(c: CampaignFacts) -> Finding | None:
    if not c.asks:
        return None
    first = c.asks[0]
    return RULE.finding(
        f'the template asks a favour: "{first.match.sentence}"',
        [
            Evidence(f'{a.template.name}:{a.line}: "{a.match.sentence}"', sentence=a.match.sentence)
            for a in c.asks[:MAX_EVIDENCE]
        ],
        path=first.template.name,
        line=first.line,
    )


def check_template(t: TemplateFacts) -> list[Finding]:
    return [
        RULE.finding(
            f'asks a favour: "{ask.match.sentence}"',
            [Evidence(f'"{ask.match.sentence}"', sentence=ask.match.sentence)],
            path=ask.template.name,
            line=ask.line,
        )
        for ask in template_asks([t.template])
    ]


RULE = Rule(
    code="T004",
    name="favour-ask",
    severity="info",
    scope="campaign",
    doc="""
    The template asks the reader for something: to cover, share, review, introduce, attend, reply, link,
    sign or spend time. That is fine in itself — it is what outreach is for — but it is what makes a mass
    mailing to strangers a problem (M001), and it tells the reviewer which sentence is the ask. The
    detection uses the signals pipeline's ask detector when it is installed, or a phrase rule otherwise.
    """,
    cases=(
        fails("could you share", text="Hi {{ first_name }},\n\nCould you share our report with your readers?\n"),
        fails(
            "found by the template lint",
            mode="template",
            text="Hi {{ first_name }},\n\nWould you be willing to review our draft before Friday?\n",
        ),
        passes(
            "an announcement without an ask",
            text="Hi {{ first_name }},\n\nOur spring report is out today; it covers reuse in city halls.\n",
        ),
    ),
    campaign=check_campaign,
    template=check_template,
    template_exhaustive=True,
)
