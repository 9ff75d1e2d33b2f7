"""The running decode batch: rows that advance together, one token per forward pass.

Lives on the device thread. Requests join at step boundaries (after their own prefill)
and leave the moment they finish, so nobody waits for the longest request.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import (
    DynamicCache,
    LogitsProcessorList,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)

from core import kv


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


def sample(seq: Sequence, logits: torch.Tensor) -> int:
    """Next token for one row; `logits` is (1, vocab)."""
    if seq.gen.temperature <= 0:
        return int(logits.argmax(dim=-1).item())
    if seq.warpers is None:
        seq.warpers = LogitsProcessorList(
            [TemperatureLogitsWarper(seq.gen.temperature), TopPLogitsWarper(seq.gen.top_p)]
        )
    ids = torch.tensor([seq.context], device=logits.device)
    scores = seq.warpers(ids, logits.float())
    probs = torch.softmax(scores, dim=-1)
    return int(torch.multinomial(probs, 1, generator=seq.generator).item())


class Batch:
    def __init__(self, model: Any, device: torch.device) -> None:
        self.model = model
        self.device = device
        self.cache_keyword = kv.cache_keyword(model)
        self.rows: list[Sequence] = []
        self.cache: DynamicCache | None = None
        self.mask: torch.Tensor | None = None  # (rows, cache length): 1 = real token

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, seqs: list[Sequence], cache: DynamicCache, mask: torch.Tensor) -> None:
        """Join rows whose prompts were prefilled into `cache` (mask marks their pads)."""
        if self.cache is None or self.mask is None:
            kv.make_roomy(cache)
            self.cache, self.mask = cache, mask
        else:
            self.mask = kv.merge(self.cache, self.mask, cache, mask)
        self.rows.extend(seqs)

    def remove(self, leaving: list[Sequence]) -> None:
        if not leaving:
            return
        keep = [i for i, s in enumerate(self.rows) if s not in leaving]
        self.rows = [self.rows[i] for i in keep]
        if not keep:
            self.cache, self.mask = None, None
        elif self.cache is not None and self.mask is not None:
            self.mask = kv.select(self.cache, self.mask, keep)

    def row_cache(self, seq: Sequence) -> DynamicCache:
        assert self.cache is not None and self.mask is not None
        return kv.extract_row(self.cache, self.mask, self.rows.index(seq), self.model.config)

    @torch.inference_mode()
    def step(self) -> list[int]:
        """One forward pass for every row; returns each row's next token."""
        assert self.cache is not None and self.mask is not None
        last = [s.generated[-1] for s in self.rows]
        inputs = torch.tensor(last, device=self.device).unsqueeze(1)
        positions = torch.tensor([s.position for s in self.rows], device=self.device).unsqueeze(1)
        ones = self.mask.new_ones((len(self.rows), 1))
        self.mask = torch.cat([self.mask, ones], dim=1)
        out = self.model(
            input_ids=inputs,
            attention_mask=self.mask,
            position_ids=positions,
            use_cache=True,
            **{self.cache_keyword: self.cache},
        )
        logits = out.logits[:, -1, :]
        tokens = [sample(seq, logits[i : i + 1]) for i, seq in enumerate(self.rows)]
        for seq in self.rows:
            seq.steps += 1
        return tokens
