"""The platform adapters Muse can run, found by config section name.

Each adapter class takes `(muse, settings)`, says whether its credentials are present
(`configured(settings)`), and serves in `run()` until cancelled, registering its
Outbound in `muse.outbounds` so schedules can post there.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from bot.config import Config

if TYPE_CHECKING:  # the CLI asks which platforms are configured before loading any model
    from core.chat.service import Muse

# config section -> (module, class)
PLATFORMS: dict[str, tuple[str, str]] = {
    "discord": ("adapters.discord.adapter", "DiscordAdapter"),
    "slack": ("adapters.slack.adapter", "SlackAdapter"),
}


class PlatformAdapter(Protocol):
    platform: str

    async def run(self) -> None: ...

    @staticmethod
    def is_transient(exc: BaseException) -> bool: ...


def configured_platforms(config: Config) -> list[str]:
    names = []
    for section in PLATFORMS:
        settings = config.sections.get(section)
        if settings is not None and settings.configured:  # no platform library loaded
            names.append(section)
    return names


def _adapter_class(section: str) -> Any:
    module, cls = PLATFORMS[section]
    return getattr(importlib.import_module(module), cls)


def adapter_factories(
    config: Config, muse: Muse, names: list[str]
) -> list[Callable[[], PlatformAdapter]]:
    """One builder per platform: the supervisor builds a fresh adapter for each attempt."""
    return [functools.partial(_adapter_class(name), muse, config.sections[name]) for name in names]
