"""Rule selections as users write them, turned into codes: the one splitter of the package.

``--select R001,R002 --select T`` on the command line, ``select = "T002"`` or ``ignore = ["R003", "R006"]``
in the config's ``[lint]`` or a campaign's ``[policy]``, ``codes = "R001 R002"`` in an allow file and
``disable=T003,T004`` in a template all go through :func:`split_codes`.
"""

from __future__ import annotations

import re

from outreach.errors import UsageError

_SEPARATORS = re.compile(r"[\s,;]+")


def split_codes(value: object, where: str) -> list[str]:
    """The codes (or prefixes, or rule names) in ``value``: a string separated by commas, semicolons or
    spaces, or a list of such strings (a TOML list, a repeated command-line option); None is no codes."""
    if value is None:
        return []
    if isinstance(value, str):
        parts: list[str] = [value]
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        parts = list(value)
    else:
        raise UsageError(f"{where}: expected a list of rule codes")
    return [code for part in parts for code in _SEPARATORS.split(part) if code]


__all__ = ["split_codes"]
