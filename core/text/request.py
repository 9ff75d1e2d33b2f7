"""One generation request as the engine tracks it: settings, tokens so far, its output queue."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import LogitsProcessorList

__all__ = ["GenerationSettings", "Sequence"]


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 0.9
    seed: int | None = None


@dataclass(eq=False)
class Sequence:
    """One request: its prompt, what it generated, and where its text goes."""

    prompt_ids: list[int]
    gen: GenerationSettings
    cache_key: str | None = None
    adapter: str | None = None  # LoRA persona ([[text.adapters]] name); None = base model
    out: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    generated: list[int] = field(default_factory=list)
    generator: torch.Generator | None = None
    prefix_offset: int = 0  # incremental detokenization window (see TextEngine._emit)
    read_offset: int = 0
    done: bool = False
    cancelled: bool = False
    steps: int = 0  # decode steps this request took part in
    reused_tokens: int = 0  # prompt tokens served from the prefix cache
    oom_retried: bool = False  # already replayed once after running out of memory
    warpers: LogitsProcessorList | None = None  # temperature/top-p, built on first sample

    @property
    def context(self) -> list[int]:
        """What a prefill feeds: the prompt, plus what was generated before a replay."""
        return self.prompt_ids + self.generated if self.generated else self.prompt_ids

    def snapshot(self) -> tuple[int, int, int, bool]:
        return len(self.generated), self.prefix_offset, self.read_offset, self.done

    def restore(self, state: tuple[int, int, int, bool]) -> None:
        """Undo a failed device job: forget tokens whose text never reached the user."""
        kept, self.prefix_offset, self.read_offset, self.done = state
        del self.generated[kept:]

    @property
    def position(self) -> int:
        """Position id of the next input token (the last sampled one)."""
        return len(self.prompt_ids) + len(self.generated) - 1
