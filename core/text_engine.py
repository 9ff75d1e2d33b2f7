"""Chat generation with a Hugging Face causal LM, streamed, off the event loop.

Each request is a `Sequence` that advances one decode step at a time as a job on the
DeviceArbiter. Concurrent requests interleave step by step, so none waits for another
to finish; the step function is where requests get batched into one forward pass and
where a conversation's KV cache is kept across turns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache, LogitsProcessorList
from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

from core.device import DeviceArbiter, pick_device, pick_dtype
from core.errors import ModelUnavailable
from core.settings import TextSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 0.9
    seed: int | None = None

    @classmethod
    def from_settings(cls, s: TextSettings) -> GenerationSettings:
        return cls(s.max_new_tokens, s.temperature, s.top_p)


@dataclass
class Sequence:
    """One request's state between decode steps (touched only on the device thread)."""

    prompt_ids: list[int]
    gen: GenerationSettings
    generated: list[int] = field(default_factory=list)
    cache: Any = None
    next_input: torch.Tensor | None = None
    done: bool = False
    emitted: str = ""
    generator: torch.Generator | None = None


def model_unavailable(model: str, key: str, exc: BaseException) -> ModelUnavailable:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelUnavailable(
        f"Could not load model '{model}': {reason[:300]}\n"
        f"  - If this is the first run, Muse needs to download it from the Hugging Face hub "
        f"(is the network up?).\n"
        f"  - Or point {key} in your config at another model id or a local folder.\n"
        f"  - Or run with --tiny to try Muse offline with a tiny random model."
    )


class TextEngine:
    def __init__(self, settings: TextSettings, arbiter: DeviceArbiter) -> None:
        self.settings = settings
        self.arbiter = arbiter
        self.model: Any = None
        self.tokenizer: Any = None
        self.device = pick_device(settings.device)
        self.dtype = pick_dtype(self.device, settings.dtype)
        self.model_name = settings.model
        self.eos_ids: set[int] = set()

    async def load(self, model: str | None = None) -> None:
        name = model or self.settings.model
        await asyncio.to_thread(self._load, name)

    def _load(self, name: str) -> None:
        try:
            tokenizer = AutoTokenizer.from_pretrained(name)
            lm = AutoModelForCausalLM.from_pretrained(name, dtype=self.dtype)
        except (OSError, ValueError) as exc:  # hub unreachable, missing repo, bad folder
            raise model_unavailable(name, "[text] model", exc) from exc
        if not getattr(tokenizer, "chat_template", None):
            raise ModelUnavailable(
                f"Model '{name}' has no chat template; set [text] model to an instruct/chat model."
            )
        self.model = lm.to(self.device).eval()
        self.tokenizer = tokenizer
        self.model_name = name
        eos = lm.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if tokenizer.eos_token_id is not None:
            self.eos_ids.add(tokenizer.eos_token_id)
        log.info("text model %s loaded on %s (%s)", name, self.device, self.dtype)

    async def stream(self, prompt_ids: list[int], gen: GenerationSettings) -> AsyncIterator[str]:
        """Yield the reply's text in pieces as tokens are produced."""
        seq = Sequence(list(prompt_ids), gen)
        if gen.temperature > 0:
            seq.generator = torch.Generator(device=self.device)
            if gen.seed is not None:
                seq.generator.manual_seed(gen.seed)
            else:
                seq.generator.seed()
        try:
            while not seq.done:
                await self.arbiter.run("text", self._step, seq)
                piece = self._new_text(seq)
                if piece:
                    yield piece
        finally:
            seq.cache = None  # free the KV cache promptly, even when the reader stops early

    @torch.inference_mode()
    def _step(self, seq: Sequence) -> None:
        if seq.cache is None:
            seq.cache = DynamicCache(config=self.model.config)
            inputs = torch.tensor([seq.prompt_ids], device=self.device)
        else:
            inputs = seq.next_input
        out = self.model(input_ids=inputs, past_key_values=seq.cache, use_cache=True)
        token = self._sample(seq, out.logits[:, -1, :])
        seq.generated.append(token)
        seq.next_input = torch.tensor([[token]], device=self.device)
        if token in self.eos_ids or len(seq.generated) >= seq.gen.max_new_tokens:
            seq.done = True

    def _sample(self, seq: Sequence, logits: torch.Tensor) -> int:
        if seq.gen.temperature <= 0:
            return int(logits.argmax(dim=-1).item())
        warpers = LogitsProcessorList(
            [TemperatureLogitsWarper(seq.gen.temperature), TopPLogitsWarper(seq.gen.top_p)]
        )
        ids = torch.tensor([seq.prompt_ids + seq.generated], device=self.device)
        scores = warpers(ids, logits.float())
        probs = torch.softmax(scores, dim=-1)
        return int(torch.multinomial(probs, 1, generator=seq.generator).item())

    def _new_text(self, seq: Sequence) -> str:
        ids = [t for t in seq.generated if t not in self.eos_ids]
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        # Hold back a half-decoded multi-byte character until its other bytes arrive.
        if text.endswith("\ufffd") and not seq.done:
            return ""
        piece = text[len(seq.emitted) :] if text.startswith(seq.emitted) else ""
        seq.emitted = text if piece or text.startswith(seq.emitted) else seq.emitted
        return piece
