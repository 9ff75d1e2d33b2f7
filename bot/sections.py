"""The config file's sections: name -> settings dataclass (defined next to what uses it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.moderation import validate_rules
from core.quotas import parse_role_multipliers
from core.settings import (
    LimitSettings,
    ModerationRule,
    MuseSettings,
    PolicySettings,
    PrivacySettings,
    TextSettings,
)


@dataclass(frozen=True)
class Section:
    cls: type
    is_list: bool = False  # [[name]] tables, e.g. schedules
    # Cross-field checks after the types are right; returns problem lines.
    validate: Callable[[Any], list[str]] | None = None


def _check_limits(limits: LimitSettings) -> list[str]:
    try:
        parse_role_multipliers(limits.role_multipliers)
    except ValueError as exc:
        return [f"[limits] role_multipliers: {exc}"]
    return []


SECTIONS: dict[str, Section] = {
    "muse": Section(MuseSettings),
    "text": Section(TextSettings),
    "policy": Section(PolicySettings),
    "limits": Section(LimitSettings, validate=_check_limits),
    "privacy": Section(PrivacySettings),
    "moderation": Section(ModerationRule, is_list=True, validate=validate_rules),
}
