"""Campaigns: load a campaign, lint it recipient by recipient against the relationship ledger.

The stable API (the SMTP sender uses exactly these)::

    load_campaign(path) -> Campaign
    evaluate(session, campaign, settings=None, select=(), ignore=(), *, now=None) -> CampaignReport
    check_address(session, address, settings=None, select=(), ignore=(), *, scope="*", campaign=None,
                  allow=None, now=None) -> list[Finding]
    lint_template(path, select=(), ignore=()) -> list[Finding]

A :class:`CampaignReport` has ``recipients`` (one :class:`RecipientReport` per good CSV row: address,
row, verdict READY/REVIEW/BLOCKED, findings, rendered :class:`Rendered` or None, review_allowed),
``campaign_findings``, ``counts`` and ``warnings``; ``campaign.row_errors`` lists the bad rows.
"""

from __future__ import annotations

from outreach.campaign.evaluate import check_address, evaluate, evaluate_data
from outreach.campaign.lint import TemplateLint, lint_path, lint_template
from outreach.campaign.loader import campaign_from_strings, load_campaign
from outreach.campaign.model import (
    VERDICTS,
    AllowEntry,
    Campaign,
    CampaignReport,
    Policy,
    Recipient,
    RecipientReport,
    Rendered,
    RowError,
    SuppressedFinding,
    Unsubscribe,
    Verdict,
)
from outreach.lint.findings import Evidence, Finding

__all__ = [
    "AllowEntry",
    "Campaign",
    "CampaignReport",
    "Evidence",
    "Finding",
    "Policy",
    "Recipient",
    "RecipientReport",
    "Rendered",
    "RowError",
    "SuppressedFinding",
    "TemplateLint",
    "Unsubscribe",
    "VERDICTS",
    "Verdict",
    "campaign_from_strings",
    "check_address",
    "evaluate",
    "evaluate_data",
    "lint_path",
    "lint_template",
    "load_campaign",
]
