"""Build the text backend `[text] backend` names."""

from __future__ import annotations

from core.runtime.device import DeviceArbiter
from core.text.backend import TextBackend
from core.text.settings import TextSettings

__all__ = ["make_text_backend"]


def make_text_backend(settings: TextSettings, arbiter: DeviceArbiter) -> TextBackend:
    """The in-process engine, or the client of an OpenAI-compatible server (imported only
    when chosen, so a local setup never loads the openai SDK)."""
    if settings.backend == "openai":
        from core.text.remote import OpenAIBackend

        return OpenAIBackend(settings)
    from core.text.engine import TextEngine

    return TextEngine(settings, arbiter)
