"""Outlets: the organisation an address belongs to, by its mail domain.

A personal-mail domain (gmail.com, outlook.com …) is nobody's outlet: two people with gmail addresses do
not work together. The domains are data, in one place: ``outreach/data/personal-mail-domains.txt``
(a listed domain covers its subdomains). Everything that groups people by outlet — who-knows, the best
path of a preview, ``contacts --by-domain``, the relationship map — asks :func:`outlet_of`.
"""

from __future__ import annotations

from functools import cache, lru_cache
from importlib import resources

PERSONAL_DOMAINS_FILE = "personal-mail-domains.txt"


@cache
def personal_mail_domains() -> frozenset[str]:
    """The personal-mail domains of the shipped list (comments and blank lines left out)."""
    text = (resources.files("outreach") / "data" / PERSONAL_DOMAINS_FILE).read_text(encoding="utf-8")
    lines = (line.split("#", 1)[0].strip().lower() for line in text.splitlines())
    return frozenset(line for line in lines if line)


@lru_cache(maxsize=8192)
def is_personal_domain(domain: str) -> bool:
    """Whether ``domain`` (or a domain it is a subdomain of) is a personal-mail domain."""
    domain = domain.strip().lower().rstrip(".")
    known = personal_mail_domains()
    parts = domain.split(".")
    return any(".".join(parts[i:]) in known for i in range(len(parts) - 1))


def outlet_of(address_or_domain: str) -> str | None:
    """The outlet (mail domain, lower case) of an address or a domain; None for a personal-mail domain."""
    domain = address_or_domain.rpartition("@")[2].strip().lower().rstrip(".")
    if not domain or is_personal_domain(domain):
        return None
    return domain


__all__ = ["PERSONAL_DOMAINS_FILE", "is_personal_domain", "outlet_of", "personal_mail_domains"]
