"""outreach: make the unspoken contract of favours visible before a PR campaign is sent.

The public API is :mod:`outreach.api` (``from outreach import api``); the command line is ``outreach``
(:mod:`outreach.cli`).
"""

from outreach.version import __version__

__all__ = ["__version__"]
