"""The lint policy: which rules run, and the windows and thresholds they read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from outreach.errors import CampaignError
from outreach.lint.codes import split_codes


@dataclass(frozen=True, slots=True)
class Policy:
    """Rule selection and the windows and thresholds the rules read.

    Precedence: command-line ``--select``/``--ignore`` > campaign ``[policy]`` > config ``[lint]`` > defaults
    (``ignore`` lists add up).
    """

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    stale_days: int = 365
    cooldown_days: int = 30
    deficit_margin: float = 2.0
    mass_share: float = 0.3
    mass_min_recipients: int = 2
    identical_share: float = 0.8
    bulk_recipients: int = 20
    scope: Literal["team", "mailbox"] = "team"

    def merged(self, data: Mapping[str, Any], where: str) -> Policy:
        """This policy with the keys of a TOML table applied (validated, errors naming ``where``)."""
        known = {f.name: f for f in fields(self)}
        changes: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise CampaignError(f"{where}: unknown policy key {key!r} (known: {', '.join(known)})")
            if key in ("select", "ignore"):
                codes = tuple(split_codes(value, f"{where}: {key}"))
                changes[key] = codes if key == "select" else tuple(dict.fromkeys(self.ignore + codes))
            elif key == "scope":
                if value not in ("team", "mailbox"):
                    raise CampaignError(f'{where}: scope must be "team" or "mailbox"')
                changes[key] = value
            elif key in ("deficit_margin", "mass_share", "identical_share"):
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise CampaignError(f"{where}: {key} must be a non-negative number")
                if key != "deficit_margin" and value > 1:
                    raise CampaignError(f"{where}: {key} is a share between 0 and 1")
                changes[key] = float(value)
            else:
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise CampaignError(f"{where}: {key} must be a non-negative integer")
                changes[key] = value
        return replace(self, **changes)

    def selected(self, select: tuple[str, ...] = (), ignore: tuple[str, ...] = ()) -> Policy:
        """This policy with command-line selections on top: ``select`` replaces, ``ignore`` adds up."""
        policy = self
        if select:
            policy = replace(policy, select=select)
        if ignore:
            policy = replace(policy, ignore=tuple(dict.fromkeys(policy.ignore + ignore)))
        return policy


__all__ = ["Policy"]
