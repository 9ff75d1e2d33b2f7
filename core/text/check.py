"""Prove the engine's batched decode path against transformers' own `generate`, at load.

The fast path drives the model below `generate` (cache layers, masks, positions), so a
new transformers release can break it without an API error in sight. A few greedy
tokens for two prompts, with a join and a leave in between, catch that before anyone
waits on a reply; on a mismatch the engine falls back to plain `generate`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from transformers import GenerationConfig

from core.text.request import GenerationSettings, Sequence

__all__ = ["CHECK_PROMPTS", "reference_tokens", "run_check", "same_greedy_tokens"]

# (user message, new tokens): different lengths, so the second joins with padding, and
# the first leaves earlier, so rows are dropped mid-batch.
CHECK_PROMPTS = (("Hello!", 4), ("Write one line about a lighthouse at dawn, please.", 6))


def reference_tokens(
    model: torch.nn.Module, prompt: list[int], new_tokens: int, eos: list[int], pad: int
) -> tuple[list[int], list[torch.Tensor]]:
    """Greedy tokens and their logits from the library's `generate` (batch of one)."""
    ids = torch.tensor([prompt], device=model.device)
    config = GenerationConfig(
        max_new_tokens=new_tokens,
        do_sample=False,
        eos_token_id=eos or None,
        pad_token_id=pad,
        output_logits=True,
        return_dict_in_generate=True,
    )
    out = model.generate(ids, attention_mask=torch.ones_like(ids), generation_config=config)
    return out.sequences[0, len(prompt) :].tolist(), [row[0] for row in out.logits]


def same_greedy_tokens(
    ours: list[int], want: list[int], logits: list[torch.Tensor], tolerance: float
) -> bool:
    """Equal tokens, or a first difference where the reference's top two were a tie.

    On GPUs in half precision, a different kernel shape can flip a near tie; that is
    noise, not a broken cache.
    """
    for step, (a, b) in enumerate(zip(ours, want, strict=False)):
        if a != b:
            row = logits[step].float()
            margin = float(row[b] - row[a])
            return margin <= tolerance * max(1.0, float(row.abs().max()))
    return len(ours) == len(want)


def run_check(
    prompts: list[list[int]],
    admit: Callable[[list[Sequence]], object],
    decode: Callable[[], object],
    running: Callable[[], int],
) -> list[list[int]]:
    """Drive the fast path: the first request alone for a step, then the second joins."""
    seqs = [
        Sequence(p, GenerationSettings(max_new_tokens=n, temperature=0))
        for p, (_, n) in zip(prompts, CHECK_PROMPTS, strict=True)
    ]
    admit(seqs[:1])
    if running():
        decode()
    admit(seqs[1:])
    for _ in range(64):  # bounded: each request stops at its token budget
        if not running():
            break
        decode()
    return [s.generated for s in seqs]
