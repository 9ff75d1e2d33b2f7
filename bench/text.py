"""Text benchmarks: concurrency (batching), prefix (KV reuse), loop (event-loop stalls)."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from typing import Any

from core.runtime.device import DeviceArbiter
from core.runtime.loop_monitor import LoopMonitor
from core.text.engine import GenerationSettings, TextEngine
from core.text.settings import TextSettings


async def load_engine(model: str) -> TextEngine:
    engine = TextEngine(TextSettings(model=model, device="auto"), DeviceArbiter())
    await engine.load()
    engine.eos_ids = set()  # random weights: make every request generate its full length
    return engine


def random_ids(engine: TextEngine, n: int, rng: random.Random) -> list[int]:
    low = 300  # skip special and common tokens
    return [rng.randrange(low, len(engine.tokenizer)) for _ in range(n)]


async def first_token_time(engine: TextEngine, ids: list[int], key: str | None) -> float:
    start = time.perf_counter()
    stream = engine.stream(ids, GenerationSettings(max_new_tokens=1, temperature=0), key)
    async for _ in stream:
        break
    await stream.aclose()
    return time.perf_counter() - start


async def concurrency(
    engine: TextEngine, n: int = 8, history: int = 200, new: int = 48, repeats: int = 3
) -> dict[str, Any]:
    """Serial then batched, `repeats` times back to back; the median pair ratio is the figure,
    so one slow moment on a shared CPU does not decide it. The loop figure is the worst stall
    over every batched run."""
    rng = random.Random(1)
    prompts = [random_ids(engine, history + rng.randrange(-20, 21), rng) for _ in range(n)]
    gen = GenerationSettings(max_new_tokens=new, temperature=0)

    async def one(ids: list[int]) -> int:
        return len([p async for p in engine.stream(ids, gen)])

    await one(prompts[0][:16])  # warm-up
    runs: list[tuple[float, float]] = []
    worst_stall = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for ids in prompts:
            await one(ids)
        serial = time.perf_counter() - start
        monitor = LoopMonitor(interval=0.005)
        monitor.start()
        await asyncio.sleep(0.02)
        monitor.reset()
        start = time.perf_counter()
        await asyncio.gather(*(one(ids) for ids in prompts))
        batched = time.perf_counter() - start
        await monitor.stop()
        worst_stall = max(worst_stall, monitor.worst_ms)
        runs.append((batched, serial))
    return {
        "concurrency": {
            "ratio": statistics.median(b / s for b, s in runs),
            "batched_s": statistics.median(b for b, _ in runs),
            "serial_s": statistics.median(s for _, s in runs),
            "runs": [{"batched_s": b, "serial_s": s, "ratio": b / s} for b, s in runs],
        },
        "loop": {"worst_stall_ms": worst_stall, "target_ms": 50.0},
    }


async def prefix(engine: TextEngine, history: int = 1500, follow_up: int = 40) -> dict[str, Any]:
    rng = random.Random(2)
    first = random_ids(engine, history, rng)
    gen = GenerationSettings(max_new_tokens=24, temperature=0)
    reply = [t async for t in engine.stream(first, gen, cache_key="bench")]
    assert reply
    turn2 = first + random_ids(engine, 24 + follow_up, rng)
    # The cached entry covers `first` plus the reply; the follow-up shares `first`.
    warm = await first_token_time(engine, turn2, "bench")
    engine.forget("bench")
    cold = await first_token_time(engine, turn2, "bench")
    return {
        "prefix": {
            "ratio": warm / cold,
            "warm_ttft_s": warm,
            "cold_ttft_s": cold,
            "history_tokens": history,
        }
    }
