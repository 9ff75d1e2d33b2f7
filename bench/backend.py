"""`python -m bench --backend local|openai`: the serving figures through the text backend
interface, the same code for the in-process engine and for a server, so the two compare.

- concurrency: n chat requests one at a time vs all at once (ratio < 1: the engine batches);
  tokens/s counted from what the engine reports (a server's `usage`);
- ttft: median time to the first piece of text, one request alone;
- prefix: time to first text of a conversation's next turn (its prefix seen before) over a
  fresh conversation of the same length (ratio < 1: the prefix was reused);
- loop: the worst event-loop stall while Muse streamed the simultaneous requests.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from typing import Any

from core.chat.prompt import Prompt, Turn, build_prompt
from core.runtime.device import DeviceArbiter
from core.runtime.loop_monitor import LoopMonitor
from core.text.backend import TextBackend
from core.text.choose import make_text_backend
from core.text.request import GenerationSettings
from core.text.settings import TextSettings
from core.text.tiny import _WORDS

__all__ = ["backend_bench", "backend_lines", "open_backend"]


async def open_backend(
    kind: str, model: str, base_url: str, extra_body: dict[str, Any]
) -> TextBackend:
    settings = TextSettings(
        backend=kind,  # type: ignore[arg-type]
        model=model,
        base_url=base_url,
        extra_body=extra_body,
        max_retries=0,
        prompt_tokens=8192,
    )
    backend = make_text_backend(settings, DeviceArbiter())
    await backend.load()
    if kind == "local":
        backend.eos_ids = set()  # type: ignore[attr-defined]  # random weights: full length
    return backend


def _prompt(backend: TextBackend, rng: random.Random, words: int, history: list[Turn]) -> Prompt:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return build_prompt(backend.tokenizer, "You are a bench.", history, Turn("user", text), 8192)


async def _one(backend: TextBackend, prompt: Prompt, gen: GenerationSettings, key: str) -> Any:
    start = time.perf_counter()
    first = None
    stream = backend.generate(prompt, gen, cache_key=key)
    async for _ in stream:
        first = first or time.perf_counter() - start
    return first, stream.tokens


async def backend_bench(
    backend: TextBackend, n: int = 8, words: int = 150, new: int = 32, repeats: int = 3
) -> dict[str, Any]:
    rng = random.Random(3)
    gen = GenerationSettings(max_new_tokens=new, temperature=0.0)
    prompts = [_prompt(backend, rng, words, []) for _ in range(n)]
    await _one(backend, prompts[0], gen, "warm-up")
    runs, stalls, ttfts, prefix = [], [], [], []
    for r in range(repeats):
        start = time.perf_counter()
        serial = [await _one(backend, p, gen, f"s{r}-{i}") for i, p in enumerate(prompts)]
        serial_s = time.perf_counter() - start
        monitor = LoopMonitor(interval=0.005)
        monitor.start()
        await asyncio.sleep(0.02)
        monitor.reset()
        start = time.perf_counter()
        together = await asyncio.gather(
            *(_one(backend, p, gen, f"t{r}-{i}") for i, p in enumerate(prompts))
        )
        together_s = time.perf_counter() - start
        await monitor.stop()
        stalls.append(monitor.worst_ms)
        ttfts += [first for first, _ in serial if first]
        tokens = sum(t for _, t in together)
        runs.append(
            {
                "serial_s": serial_s,
                "batched_s": together_s,
                "ratio": together_s / serial_s,
                "tokens_per_s": tokens / together_s,
            }
        )
        # The next turn of conversation r (its first turn is prompts[0]'s), against a
        # fresh conversation of the same length.
        turn1 = prompts[0].messages[1]["content"]
        history = [Turn("user", turn1), Turn("assistant", "a reply")]
        key = f"conv{r}"
        await _one(backend, _prompt_with(backend, history, "and then"), gen, key)
        history += [Turn("user", "and then"), Turn("assistant", "more")]
        warm, _ = await _one(backend, _prompt_with(backend, history, "go on"), gen, key)
        fresh = [Turn("user", " ".join(rng.choice(_WORDS) for _ in range(words)))]
        fresh += [Turn("assistant", "a reply"), Turn("user", "and then"), Turn("assistant", "more")]
        cold, _ = await _one(backend, _prompt_with(backend, fresh, "go on"), gen, f"cold{r}")
        prefix.append({"warm_ttft_s": warm, "cold_ttft_s": cold, "ratio": warm / cold})
    return {
        "backend": {"kind": type(backend).__name__, "model": backend.model_name, "requests": n},
        "concurrency": {
            "ratio": statistics.median(r["ratio"] for r in runs),
            "batched_s": statistics.median(r["batched_s"] for r in runs),
            "serial_s": statistics.median(r["serial_s"] for r in runs),
            "tokens_per_s": statistics.median(r["tokens_per_s"] for r in runs),
            "runs": runs,
        },
        "ttft": {"median_ms": statistics.median(ttfts) * 1000, "samples": len(ttfts)},
        "prefix": {
            "ratio": statistics.median(p["ratio"] for p in prefix),
            "warm_ttft_s": statistics.median(p["warm_ttft_s"] for p in prefix),
            "cold_ttft_s": statistics.median(p["cold_ttft_s"] for p in prefix),
            "runs": prefix,
        },
        "loop": {"worst_stall_ms": max(stalls), "target_ms": 50.0},
    }


def _prompt_with(backend: TextBackend, history: list[Turn], text: str) -> Prompt:
    return build_prompt(backend.tokenizer, "You are a bench.", history, Turn("user", text), 8192)


def backend_lines(fig: dict[str, Any]) -> list[str]:
    b, c, p = fig["backend"], fig["concurrency"], fig["prefix"]
    each = ", ".join(f"{r['ratio']:.2f}x" for r in c["runs"])
    return [
        f"backend: {b['kind']} serving {b['model']}",
        f"concurrency: {c['ratio']:.2f}x ({b['requests']} requests at once vs one at a time; "
        f"median of {each}; together {c['batched_s']:.2f} s, serial {c['serial_s']:.2f} s; "
        f"{c['tokens_per_s']:.0f} tokens/s together)",
        f"ttft: {fig['ttft']['median_ms']:.0f} ms median time to first text, one request alone",
        f"prefix: {p['ratio']:.2f}x (next turn of a conversation {p['warm_ttft_s'] * 1000:.0f} ms"
        f" vs a fresh one {p['cold_ttft_s'] * 1000:.0f} ms to first text)",
        f"loop: worst stall {fig['loop']['worst_stall_ms']:.1f} ms "
        f"(target <= {fig['loop']['target_ms']:.0f} ms)",
    ]
