"""Outlets: personal-mail domains are nobody's outlet, and the list is data in one file."""

from __future__ import annotations

from importlib import resources

from outreach.ledger.outlets import PERSONAL_DOMAINS_FILE, is_personal_domain, outlet_of, personal_mail_domains


def test_personal_mail_domains_are_no_outlet() -> None:
    for address in ("kim@gmail.com", "Kim@GMAIL.com", "x@outlook.com", "y@hotmail.co.uk", "z@icloud.com"):
        assert outlet_of(address) is None, address
    assert is_personal_domain("mail.yahoo.com")  # a subdomain of a listed one
    assert not is_personal_domain("com") and not is_personal_domain("gmail.company.example")


def test_an_organisation_is_its_domain() -> None:
    assert outlet_of("maya@TechDaily.example") == "techdaily.example"
    assert outlet_of("news.techdaily.example") == "news.techdaily.example"
    assert outlet_of("notgmail.com") == "notgmail.com"


def test_the_list_is_the_shipped_file() -> None:
    text = (resources.files("outreach") / "data" / PERSONAL_DOMAINS_FILE).read_text(encoding="utf-8")
    listed = {line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}
    assert listed == personal_mail_domains()
    assert {"gmail.com", "outlook.com", "yahoo.com", "proton.me"} <= listed
