"""The config file's sections: name -> settings dataclass (defined next to what uses it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.settings import MuseSettings, PolicySettings, TextSettings


@dataclass(frozen=True)
class Section:
    cls: type
    is_list: bool = False  # [[name]] tables, e.g. schedules
    # Cross-field checks after the types are right; returns problem lines.
    validate: Callable[[Any], list[str]] | None = None


SECTIONS: dict[str, Section] = {
    "muse": Section(MuseSettings),
    "text": Section(TextSettings),
    "policy": Section(PolicySettings),
}
