"""Small decisions the chat service makes when it keeps a generation for the feedback loop."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from core.memory.store import StoredMessage
from core.text.settings import TextSettings
from core.tuning import generations

__all__ = ["authors", "loaded_adapter", "persona_label", "worth_keeping"]

log = logging.getLogger(__name__)


def loaded_adapter(bound: str | None, loaded: Iterable[str]) -> str | None:
    """The adapter a persona binds, or None when the engine no longer has it (a config
    change since /persona set): the conversation is answered by the base model."""
    if bound is not None and bound not in tuple(loaded):
        log.warning("persona adapter %r is not in [[text.adapters]]: using the base model", bound)
        return None
    return bound


def authors(platform: str, history: Iterable[StoredMessage]) -> list[str]:
    """ "platform:id" of everyone whose words the history holds (what a purge looks for)."""
    return sorted({f"{platform}:{m.author_id}" for m in history if m.role == "user"})


def persona_label(system_prompt: str, settings: TextSettings, adapter: str | None) -> str:
    return generations.persona_label(system_prompt, settings.system_prompt, adapter)


def worth_keeping(final: str, not_answers: tuple[str, ...]) -> bool:
    """A reply cut short by shutdown, or the no-answer notice, teaches nothing."""
    return not any(final == n or final.endswith(n) for n in not_answers)
