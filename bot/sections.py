"""The config file's sections: name -> settings dataclass (defined next to what uses it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapters.discord.settings import DiscordSettings, validate_discord_settings
from adapters.slack.settings import SlackSettings, validate_slack_settings
from bot.settings import MuseSettings
from core.fair_use.moderation import validate_rules
from core.fair_use.quotas import parse_role_multipliers
from core.fair_use.settings import LimitSettings, ModerationRule, PolicySettings
from core.image.options import ImageSettings, validate_image_settings
from core.memory.settings import PrivacySettings
from core.schedule.settings import ScheduleEntry, SchedulerSettings, validate_schedules
from core.text.settings import TextSettings


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


def _check_schedules(entries: list[ScheduleEntry]) -> list[str]:
    problems = validate_schedules(entries)
    for i, entry in enumerate(entries):
        # The shell has one channel; other platforms can only be checked once connected.
        if entry.platform == "shell" and (entry.channel, entry.workspace) != ("local", ""):
            name = entry.name or f"entry {i}"
            problems.append(f'[[schedules]] {name}: the shell has only channel = "local"')
    return problems


SECTIONS: dict[str, Section] = {
    "muse": Section(MuseSettings),
    "text": Section(TextSettings),
    "image": Section(ImageSettings, validate=validate_image_settings),
    "policy": Section(PolicySettings),
    "limits": Section(LimitSettings, validate=_check_limits),
    "privacy": Section(PrivacySettings),
    "moderation": Section(ModerationRule, is_list=True, validate=validate_rules),
    "scheduler": Section(SchedulerSettings),
    "schedules": Section(ScheduleEntry, is_list=True, validate=_check_schedules),
    "discord": Section(DiscordSettings, validate=validate_discord_settings),
    "slack": Section(SlackSettings, validate=validate_slack_settings),
}
