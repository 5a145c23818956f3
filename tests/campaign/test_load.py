"""Loading campaigns: campaign.toml, templates, recipients CSV (bad rows), allow files, inline directives."""

from __future__ import annotations

from pathlib import Path

import pytest
from lint.cases import NOW, make_ledger

from outreach.campaign import campaign_from_strings, load_campaign
from outreach.campaign.evaluate import StoreData, evaluate_data
from outreach.campaign.loader import read_allow
from outreach.errors import CampaignError

from .data import DATA, write_campaign

REPO = Path(__file__).resolve().parents[2]


BASIC = 'name = "t"\nmailbox = "alex"\n[template]\nsubject = "Hello {{ first_name }}"\ntext = "body.txt.j2"\n'


@pytest.mark.parametrize("name", ["warm-pitch", "cold-mass-ask", "follow-up"])
def test_example_campaigns_load(name):
    campaign = load_campaign(REPO / "templates" / name)
    assert campaign.recipients and not campaign.row_errors
    assert campaign.mailbox == "alex"
    for r in campaign.recipients:
        domain = r.address.rpartition("@")[2]
        # Only names reserved for examples (RFC 2606): no real person or outlet in shipped campaigns.
        assert domain in ("example.com", "example.org", "example.net") or domain.endswith(".example")


def test_campaign_toml_path_and_folder_are_the_same(tmp_path):
    write_campaign(tmp_path, BASIC)
    assert load_campaign(tmp_path).name == load_campaign(tmp_path / "campaign.toml").name == "t"


def test_template_found_under_a_templates_folder(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "shared.txt.j2").write_text("Hi {{ first_name }}\n", encoding="utf-8")
    camp = tmp_path / "campaigns" / "one"
    camp.mkdir(parents=True)
    write_campaign(camp, BASIC.replace("body.txt.j2", "shared.txt.j2"))
    assert load_campaign(camp).text.source == "Hi {{ first_name }}\n"


def test_bad_rows_are_reported_per_line_and_good_rows_kept():
    campaign = load_campaign(DATA / "mixed")
    errors = {e.line: e.message for e in campaign.row_errors}
    assert "missing email" in errors[12]
    assert "invalid email address" in errors[13]
    assert "duplicate address warm@example.org (first on line 2)" in errors[14]
    assert sorted(errors) == list(range(12, 15))
    assert all(
        str(e).startswith(str(Path("tests/data/campaigns/mixed/recipients.csv")))
        or "recipients.csv:" in str(e)
        for e in campaign.row_errors
    )
    assert [r.address for r in campaign.recipients][:2] == ["warm@example.org", "stranger@example.com"]
    assert len(campaign.recipients) == 10
    assert campaign.recipients[0].line == 2


def test_csv_field_count_and_header_problems(tmp_path):
    write_campaign(
        tmp_path, BASIC, csv="email,first_name\npat@example.org,Pat,extra\n\nkim@example.org,Kim\n"
    )
    campaign = load_campaign(tmp_path)
    assert [r.address for r in campaign.recipients] == ["kim@example.org"]
    assert campaign.row_errors[0].line == 2 and "expected 2 fields, found 3" in campaign.row_errors[0].message
    write_campaign(tmp_path, BASIC, csv="mail,first_name\npat@example.org,Pat\n")
    with pytest.raises(CampaignError, match=r"recipients.csv:1: no 'email' column"):
        load_campaign(tmp_path)


def test_mailmerge_style_csv_with_display_names(tmp_path):
    write_campaign(tmp_path, BASIC, csv='email,first_name\n"Pat Example <Pat@Example.org>",Pat\n')
    assert load_campaign(tmp_path).recipients[0].address == "pat@example.org"


def test_negative_numbers_are_not_formula_injection(tmp_path):
    write_campaign(tmp_path, BASIC, csv="email,first_name,score\npat@example.org,Pat,-3\n")
    assert not load_campaign(tmp_path).row_errors


@pytest.mark.parametrize(
    "toml, message",
    [
        ('mailbox = "a"\n[template]\ntext = "body.txt.j2"\n', "subject is required"),
        ('name = "t"\n[template]\nsubject = "x"\ntext = "body.txt.j2"\n', "mailbox"),
        (BASIC + "[policy]\nstale_dayz = 3\n", "unknown policy key 'stale_dayz'"),
        (BASIC + "[policy]\nmass_share = 3\n", "mass_share is a share"),
        (BASIC + '[policy]\nignore = ["Q123"]\n', None),
        (BASIC + '[unsubscribe]\nurl = "http://example.org/u"\n', "https"),
        (BASIC.replace("body.txt.j2", "missing.txt.j2"), "'missing.txt.j2' not found"),
        ("name = [", "campaign.toml"),
    ],
)
def test_bad_campaign_definitions(tmp_path, toml, message):
    write_campaign(tmp_path, toml)
    if message is None:  # an unknown rule code is caught when the policy is resolved
        campaign = load_campaign(tmp_path)
        with pytest.raises(Exception, match="Q123"):
            evaluate_data(campaign, StoreData({}), now=NOW)
        return
    with pytest.raises(CampaignError, match=message):
        load_campaign(tmp_path)


# -------------------------------------------------------------------------------------------- SSTI

SSTI = [
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ ''|attr('__class__') }}",
    "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ row['__class__'] }}",
    "{{ contact.__class__.__init__ }}",
    "{{ contact.tier.__class__ }}",
    "{{ namespace.__init__.__globals__ }}",
]


@pytest.mark.parametrize("payload", SSTI)
def test_template_injection_is_refused_at_load_naming_file_and_line(tmp_path, payload):
    write_campaign(tmp_path, BASIC, body=f"Hi {{{{ first_name }}}},\n\n{payload}\n")
    with pytest.raises(CampaignError) as info:
        load_campaign(tmp_path)
    message = str(info.value)
    assert "body.txt.j2:3: unsafe template" in message
    assert "<class" not in message and "built-in" not in message and "function" not in message


@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''|attr(first_name) }}",  # attribute name from the CSV: refused when rendering
        "{{ '{0.__class__}'.format(first_name) }}",
        "{{ 'a' * 100000000 }}",
    ],
)
def test_runtime_injection_is_refused_when_rendering(payload):
    campaign = campaign_from_strings(
        text=f"Hello\n{payload}\n", rows=[{"email": "pat@example.org", "first_name": "__class__"}]
    )
    with pytest.raises(CampaignError, match=r"<text>:2: unsafe template"):
        evaluate_data(campaign, StoreData({}), now=NOW)


def test_csv_values_are_data_not_template_code():
    campaign = campaign_from_strings(
        text="Hi {{ first_name }}\n", rows=[{"email": "pat@example.org", "first_name": "{{ 7*7 }}"}]
    )
    report = evaluate_data(
        campaign, StoreData({"pat@example.org": make_ledger("pat@example.org", {})}), now=NOW
    )
    rendered = report.recipients[0].rendered
    assert rendered is not None and rendered.text == "Hi {{ 7*7 }}\n"
    assert "T002" in [f.code for f in report.recipients[0].findings]


def test_row_and_contact_are_read_only():
    campaign = campaign_from_strings(
        text="{{ row.update({'x': 1}) }}{{ contact.tier }}\n", rows=[{"email": "pat@example.org"}]
    )
    report = evaluate_data(campaign, StoreData({}), now=NOW)
    assert [f.code for f in report.recipients[0].findings if f.code == "T001"] == ["T001"]


def test_syntax_error_names_file_and_line(tmp_path):
    write_campaign(tmp_path, BASIC, body="Hi {{ first_name }},\n\n{% if x %}\nunclosed\n")
    with pytest.raises(CampaignError, match=r"body.txt.j2:\d+: template syntax error"):
        load_campaign(tmp_path)
    write_campaign(tmp_path, BASIC.replace('"Hello {{ first_name }}"', '"Hello {{ first_name }"'))
    with pytest.raises(CampaignError, match=r"campaign.toml:4: template syntax error"):
        load_campaign(tmp_path)


# -------------------------------------------------------------------------------------------- allow


def test_allow_file_warnings_expired_and_never_overridable():
    campaign = load_campaign(DATA / "mixed")
    warnings = "\n".join(campaign.warnings)
    assert "allow.csv:3: R007 opted-out can never be suppressed" in warnings
    assert "allow.csv:4: allow entry for taker@example.org expired on 2020-01-01; ignored" in warnings
    assert [e.address for e in campaign.allow] == ["intro@example.net", "nobody@example.org"]
    assert campaign.allow[0].source.endswith("allow.csv:2") and campaign.allow[0].author == "alex"


def test_allow_entry_without_reason_is_an_error_naming_file_and_line():
    with pytest.raises(
        CampaignError, match=r"allow.toml:7: suppression of R001 for stranger@example.com has no reason"
    ):
        load_campaign(DATA / "bad-allow")


def test_allow_toml_expired_entry(tmp_path):
    path = tmp_path / "allow.toml"
    path.write_text(
        '[[allow]]\naddress = "@example.org"\ncodes = "R001 R002"\nreason = "partner org"\n'
        'expires = "2000-01-01"\n',
        encoding="utf-8",
    )
    entries, warnings = read_allow(path)
    assert entries == [] and "expired on 2000-01-01" in warnings[0]


def test_inline_directive_without_reason_is_an_error(tmp_path):
    write_campaign(tmp_path, BASIC, body="Hi\n{# outreach: disable=T003 #}\nAs we discussed\n")
    with pytest.raises(CampaignError, match=r"body.txt.j2:2: suppression of T003 has no reason"):
        load_campaign(tmp_path)
    write_campaign(tmp_path, BASIC, body='Hi\n{# outreach: disable=R008 reason="vip" #}\n')
    assert "can never be suppressed" in "\n".join(load_campaign(tmp_path).warnings)
