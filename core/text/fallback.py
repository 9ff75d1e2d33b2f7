"""The engine's safe path: plain `model.generate`, one request at a time, streamed.

Used when the batched path fails its check at load (core/text_check.py), e.g. after a
transformers release changed the cache internals it relies on. Only public API here:
a `BaseStreamer` hands each token to the request's queue, a `StoppingCriteria` ends
generation when the request is cancelled. Slower than batching, but replies keep coming.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import torch
from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList
from transformers.generation import BaseStreamer

from core.text.request import Sequence

__all__ = ["generate_one"]

Emit = Callable[[Sequence], tuple[Sequence, str, bool]]


class _ToQueue(BaseStreamer):
    """Feeds each new token through the engine's detokenizer into the request's queue."""

    def __init__(self, seq: Sequence, emit: Emit, loop: asyncio.AbstractEventLoop) -> None:
        self.seq, self.emit, self.loop = seq, emit, loop
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate() hands over the prompt first
            self.prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            self.seq.generated.append(int(token))
            _, piece, _ = self.emit(self.seq)
            if piece:
                self.loop.call_soon_threadsafe(self.seq.out.put_nowait, piece)

    def end(self) -> None:
        pass


class _Cancelled(StoppingCriteria):
    def __init__(self, seq: Sequence) -> None:
        self.seq = seq

    def __call__(
        self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: object
    ) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), self.seq.cancelled, dtype=torch.bool)


@torch.inference_mode()
def generate_one(
    model: torch.nn.Module,
    seq: Sequence,
    emit: Emit,
    loop: asyncio.AbstractEventLoop,
    eos: list[int],
    pad: int,
    extra: dict[str, object] | None = None,
) -> None:
    """Generate one request's reply with `model.generate` (runs on the device thread);
    `extra` goes to generate as is (a PeftModel's `adapter_names`)."""
    gen = seq.gen
    sampling = gen.temperature > 0
    config = GenerationConfig(
        max_new_tokens=gen.max_new_tokens,
        do_sample=sampling,
        temperature=gen.temperature if sampling else None,
        top_p=gen.top_p if sampling else None,
        eos_token_id=eos or None,
        pad_token_id=pad,
    )
    if sampling and gen.seed is not None:
        torch.manual_seed(gen.seed)  # generate() samples from the global generator
    ids = torch.tensor([seq.prompt_ids], device=model.device)
    model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        generation_config=config,
        streamer=_ToQueue(seq, emit, loop),
        stopping_criteria=StoppingCriteriaList([_Cancelled(seq)]),
        **(extra or {}),  # a PeftModel's adapter_names
    )
