"""What the chat service needs from a text engine, whether it runs in-process or on a server.

Two implementations: `TextEngine` (core/text/engine.py, the model inside Muse) and
`OpenAIBackend` (core/text/remote.py, any OpenAI-compatible server). Both take the built
prompt (core/chat/prompt.py's `Prompt`, seen here as `PromptInput` since engines know
nothing of chats), which carries the chat messages (what a server wants) and the token ids
(what the in-process engine wants), and both hand back a `TextStream`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

from core.errors import UserError

if TYPE_CHECKING:
    from core.text.request import GenerationSettings

__all__ = ["EngineUnavailable", "PromptInput", "StreamInterrupted", "TextBackend", "TextStream"]


class PromptInput(Protocol):
    """A built prompt: the chat messages and the same conversation as token ids."""

    @property
    def ids(self) -> list[int]: ...

    @property
    def messages(self) -> list[dict[str, str]]: ...


class EngineUnavailable(UserError):
    """The engine could not start this reply (server down, busy, no first token in time).
    Nothing was shown yet; the message says what happened and what to do."""


class StreamInterrupted(Exception):
    """The engine stopped part-way through a reply (a dropped connection, a stall): what
    came before is real text and is kept; the caller marks the reply as cut short."""


class TextStream:
    """A reply's text pieces as they come. `aclose()` stops the request at the engine;
    `tokens` is how many tokens the engine says it generated (for quotas): the server's
    `usage` for a remote engine, the sampled tokens for the local one."""

    def __init__(self, pieces: AsyncGenerator[str, None]) -> None:
        self._pieces = pieces
        self.tokens = 0

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        return await self._pieces.__anext__()

    async def aclose(self) -> None:
        await self._pieces.aclose()


class TextBackend(Protocol):
    """The engine as the chat service sees it."""

    model_name: str
    tokenizer: Any  # what build_prompt counts the budget with
    device: Any  # where it runs (a torch device, or the server's URL), for /metrics
    dtype: Any
    adapters: tuple[str, ...]  # LoRA personas it can answer with ([[text.adapters]])

    async def load(self, model: str | None = None) -> None: ...

    def generate(
        self,
        prompt: PromptInput,
        gen: GenerationSettings,
        cache_key: str | None = None,
        adapter: str | None = None,
    ) -> TextStream: ...

    def forget(self, cache_key: str) -> None: ...

    async def readiness(self) -> str:
        """"ok", or what is not ready ("loading", "unreachable: ...")."""
        ...

    @property
    def running(self) -> int:
        """Replies being generated right now."""
        ...

    async def close(self) -> None: ...
