"""Quantization's price and payoff: int8 weight-only against the unquantized model, in one
run on the same prompts, device and thread.

Speed is single-request decode through Muse's engine (median time between tokens, so the
prefill is left out); quality is greedy agreement: for 16 prompts, how much of the first
32 greedy tokens the int8 model shares with the unquantized one (the matching prefix,
as a share, averaged; and how many prompts match all the way). The benchmark model has
random weights, whose next-token margins are thin: a trained model agrees more.
"""

from __future__ import annotations

import itertools
import random
import statistics
import time
from typing import Any

import torch
from transformers import GenerationConfig

from bench.text import load_engine, random_ids
from core.text.engine import GenerationSettings, TextEngine
from core.text.prefix_cache import common_prefix

MODES = ("none", "int8")


@torch.inference_mode()
def greedy_tokens(model: Any, prompts: list[list[int]], new: int) -> list[list[int]]:
    """`new` greedy tokens per prompt with the library's generate (prompts of one length,
    so one batch without padding)."""
    ids = torch.tensor(prompts, device=model.device)
    config = GenerationConfig(
        max_new_tokens=new, min_new_tokens=new, do_sample=False, eos_token_id=None, pad_token_id=0
    )
    out = model.generate(ids, attention_mask=torch.ones_like(ids), generation_config=config)
    return [row[len(prompts[0]) :].tolist() for row in out]


async def decode_tokens_per_s(engine: TextEngine, prompt: list[int], new: int) -> float:
    gen = GenerationSettings(max_new_tokens=new, temperature=0)
    times = [time.perf_counter() async for _ in engine.stream(prompt, gen)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return 1 / statistics.median(gaps)


async def quant(
    model: str, prompts: int = 16, new: int = 32, length: int = 48, repeats: int = 3
) -> dict[str, Any]:
    engines = {mode: await load_engine(model, quantization=mode) for mode in MODES}
    rng = random.Random(3)
    ps = [random_ids(engines["none"], length, rng) for _ in range(prompts)]
    tokens = {
        mode: await e.arbiter.run("text", greedy_tokens, e.model, ps, new)
        for mode, e in engines.items()
    }
    shares = [
        common_prefix(a, b) / new for a, b in zip(tokens["none"], tokens["int8"], strict=True)
    ]
    runs: list[dict[str, float]] = []
    for r in range(repeats):
        tps: dict[str, float] = {}
        for mode in MODES[r % 2 :] + MODES[: r % 2]:  # alternate who goes first
            tps[mode] = await decode_tokens_per_s(engines[mode], ps[r % prompts], 2 * new)
        runs.append(tps)
    for e in engines.values():
        await e.arbiter.close()
    return {
        "quant": {
            "ratio": statistics.median(t["int8"] / t["none"] for t in runs),
            "tokens_per_s": {m: statistics.median(t[m] for t in runs) for m in MODES},
            "runs": runs,
            "agreement": statistics.mean(shares),
            "identical_prompts": sum(s == 1.0 for s in shares),
            "prompts": prompts,
            "compared_tokens": new,
            "agreement_each": shares,
        }
    }
