"""The version of outreach (one place: the package, the CLI and the API read it)."""

__version__ = "0.1.0"
