"""outreach: make the unspoken contract of favours visible before a PR campaign is sent."""

__version__ = "0.1.0"
