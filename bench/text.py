"""Text benchmarks: Muse against its peers (plain `generate` one at a time, one padded
batched `generate`, transformers' continuous batching), prefix (KV reuse), loop (event-loop
stalls), and the distance to the memory-bandwidth limit.

Every peer runs the same prompts through the same model object on the same device thread
(the arbiter's), so the figures compare schedulers, not kernels or threads.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import torch
from transformers import GenerationConfig
from transformers.generation import BaseStreamer

from core.runtime.device import DeviceArbiter
from core.runtime.heap import freeze_startup_heap
from core.runtime.loop_monitor import LoopMonitor
from core.text.engine import GenerationSettings, TextEngine
from core.text.settings import TextSettings


async def load_engine(model: str, quantization: str = "none") -> TextEngine:
    settings = TextSettings.model_validate(
        {"model": model, "device": "auto", "quantization": quantization}
    )
    engine = TextEngine(settings, DeviceArbiter())
    await engine.load()
    engine.eos_ids = set()  # random weights: make every request generate its full length
    freeze_startup_heap()  # as `muse run` does once its models are loaded
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


class _Stamps(BaseStreamer):
    """When each new token came out of `generate` (the first put is the prompt)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def put(self, value: torch.Tensor) -> None:
        self.times.append(time.perf_counter())

    def end(self) -> None:
        pass


def _greedy(new: int) -> GenerationConfig:
    # eos off and min_new_tokens: every peer generates exactly `new` tokens per prompt.
    return GenerationConfig(
        max_new_tokens=new, min_new_tokens=new, do_sample=False, eos_token_id=None, pad_token_id=0
    )


def _step_ms(times: list[float]) -> float:
    """Median time between consecutive tokens (decode steps), in ms."""
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return statistics.median(gaps) * 1000 if gaps else float("nan")


class Peers:
    """The same prompts through each way of serving them; each method returns seconds."""

    def __init__(self, engine: TextEngine, prompts: list[list[int]], new: int) -> None:
        self.engine, self.prompts, self.new = engine, prompts, new
        self.model = engine.model
        self.step_ms: dict[str, list[float]] = {"hf_serial": [], "muse_serial": []}

    async def _device(self, fn: Callable[[], Any]) -> Any:
        return await self.engine.arbiter.run("text", fn)

    @torch.inference_mode()
    def _generate_one(self, ids: list[int]) -> None:
        x = torch.tensor([ids], device=self.model.device)
        stamps, config = _Stamps(), _greedy(self.new)
        self.model.generate(
            x, attention_mask=torch.ones_like(x), generation_config=config, streamer=stamps
        )
        self.step_ms["hf_serial"].append(_step_ms(stamps.times[1:]))  # [0] is the prompt

    @torch.inference_mode()
    def _generate_padded(self) -> None:
        width = max(len(p) for p in self.prompts)
        ids = torch.tensor([[0] * (width - len(p)) + p for p in self.prompts])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in self.prompts])
        self.model.generate(
            ids.to(self.model.device),
            attention_mask=mask.to(self.model.device),
            generation_config=_greedy(self.new),
        )

    def _generate_batch(self) -> None:
        # transformers' continuous batching; warmup only pre-captures CUDA graphs.
        out = self.model.generate_batch(
            inputs=self.prompts, generation_config=_greedy(self.new), warmup=False
        )
        assert all(len(r.generated_tokens) == self.new for r in out.values())

    async def _muse(self, ids: list[int], delay: float = 0.0, stamps: bool = False) -> None:
        await asyncio.sleep(delay)
        gen = GenerationSettings(max_new_tokens=self.new, temperature=0)
        times = [time.perf_counter() async for _ in self.engine.stream(ids, gen)]
        if stamps:
            self.step_ms["muse_serial"].append(_step_ms(times))

    async def hf_serial(self) -> None:
        for ids in self.prompts:
            await self._device(lambda ids=ids: self._generate_one(ids))

    async def hf_padded(self) -> None:
        await self._device(self._generate_padded)

    async def hf_continuous(self) -> None:
        await self._device(self._generate_batch)

    async def muse_serial(self) -> None:
        for ids in self.prompts:
            await self._muse(ids, stamps=True)

    async def muse_simultaneous(self) -> None:
        await asyncio.gather(*(self._muse(ids) for ids in self.prompts))

    async def muse_staggered(self, apart: float = 0.1) -> None:
        await asyncio.gather(*(self._muse(ids, i * apart) for i, ids in enumerate(self.prompts)))


PEERS = {
    "hf_serial": "HF generate, one at a time",
    "hf_padded": "HF one padded batched generate",
    "hf_continuous": "HF generate_batch (continuous batching)",
    "muse_serial": "Muse, one at a time",
    "muse_simultaneous": "Muse, 8 arriving together",
    "muse_staggered": "Muse, 8 arriving 100 ms apart",
}


async def _timed(run: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await run()
    return time.perf_counter() - start


async def peers(
    engine: TextEngine, n: int = 8, history: int = 200, new: int = 48, repeats: int = 3
) -> dict[str, Any]:
    """Every peer once per round, the order rotated each round so that a slow spell on a
    shared CPU does not always land on the same one; medians over rounds are the figures.
    The loop figure is the worst event-loop stall while Muse served concurrent requests."""
    rng = random.Random(1)
    prompts = [random_ids(engine, history + rng.randrange(-20, 21), rng) for _ in range(n)]
    bench = Peers(engine, prompts, new)
    await bench._muse(prompts[0][:16])  # warm-up: first-call costs out of the figures
    await bench._device(lambda: bench._generate_one(prompts[0][:16]))
    bench.step_ms = {k: [] for k in bench.step_ms}
    names = list(PEERS)
    runs: list[dict[str, float]] = []
    stalls: list[dict[str, float]] = []
    for r in range(repeats):
        times: dict[str, float] = {}
        stalls.append({})
        for name in names[r % len(names) :] + names[: r % len(names)]:
            monitor = LoopMonitor(interval=0.005) if name.startswith("muse_s") else None
            if monitor is not None:
                monitor.start()
                await asyncio.sleep(0.02)
                monitor.reset()
            times[name] = await _timed(getattr(bench, name))
            if monitor is not None:
                await monitor.stop()
                stalls[-1][name] = monitor.worst_ms
        runs.append(times)
    median = {name: statistics.median(t[name] for t in runs) for name in names}
    ratios = {name: statistics.median(t[name] / t["hf_serial"] for t in runs) for name in names}
    hf_step = statistics.median(bench.step_ms["hf_serial"])
    muse_step = statistics.median(bench.step_ms["muse_serial"])
    return {
        "peers": {
            "prompts": n,
            "history_tokens": history,
            "new_tokens": new,
            "seconds": median,
            "ratio_to_hf_serial": ratios,
            "runs": runs,
            "decode_ms_per_token": {"hf_serial": hf_step, "muse_serial": muse_step},
            "step_overhead_ms": muse_step - hf_step,
            "step_ms_each_request": bench.step_ms,
        },
        "concurrency": {
            "ratio": statistics.median(t["muse_simultaneous"] / t["muse_serial"] for t in runs),
            "batched_s": median["muse_simultaneous"],
            "serial_s": median["muse_serial"],
            "runs": [
                {
                    "batched_s": t["muse_simultaneous"],
                    "serial_s": t["muse_serial"],
                    "ratio": t["muse_simultaneous"] / t["muse_serial"],
                }
                for t in runs
            ],
        },
        "loop": {
            "worst_stall_ms": max(max(r.values()) for r in stalls),
            "target_ms": 50.0,
            "runs_ms": stalls,
        },
    }


def memory_bandwidth(mib: int = 512, passes: int = 5) -> dict[str, Any]:
    """This machine's copy bandwidth (bytes read + written per second), median of passes."""
    src = torch.ones(mib * 2**20 // 4)
    dst = torch.empty_like(src)
    dst.copy_(src)  # first touch
    times = []
    for _ in range(passes):
        start = time.perf_counter()
        dst.copy_(src)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {"bytes_per_s": 2 * src.numel() * 4 / seconds, "copy_mib": mib, "runs_s": times}


def weight_bytes(model: torch.nn.Module) -> int:
    """Bytes a decode step must read: every distinct parameter (tied ones once)."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def limit(engine: TextEngine, fig: dict[str, Any]) -> dict[str, Any]:
    """Decode against the bandwidth floor: a step reads all weights at least once."""
    bw = memory_bandwidth()
    wbytes = weight_bytes(engine.model)
    floor_ms = wbytes / bw["bytes_per_s"] * 1000
    step = fig["peers"]["decode_ms_per_token"]["muse_serial"]
    rows, new = fig["peers"]["prompts"], fig["peers"]["new_tokens"]
    batch_s = fig["peers"]["seconds"]["muse_simultaneous"]
    batch_tps = rows * new / batch_s  # prefill included: what a user of the batch gets
    batch_limit_tps = rows / (floor_ms / 1000)
    return {
        "limit": {
            "ratio": floor_ms / step,
            "bandwidth_gb_s": bw["bytes_per_s"] / 1e9,
            "weight_mb": wbytes / 1e6,
            "floor_ms_per_token": floor_ms,
            "single_ms_per_token": step,
            "batch_tokens_per_s": batch_tps,
            "batch_limit_tokens_per_s": batch_limit_tps,
            "batch_ratio": batch_tps / batch_limit_tps,
            "bandwidth_runs_s": bw["runs_s"],
        }
    }


async def prefix(
    engine: TextEngine, history: int = 1500, follow_up: int = 40, repeats: int = 3
) -> dict[str, Any]:
    """Time to first token of a conversation's next turn, with its cached prefix and cold,
    alternating `repeats` times; the median pair ratio is the figure."""
    rng = random.Random(2)
    first = random_ids(engine, history, rng)
    gen = GenerationSettings(max_new_tokens=24, temperature=0)
    turn2 = first + random_ids(engine, 24 + follow_up, rng)
    runs = []
    for _ in range(repeats):
        engine.forget("bench")
        reply = [t async for t in engine.stream(first, gen, cache_key="bench")]
        assert reply
        # The cached entry covers `first` plus the reply; the follow-up shares `first`.
        warm = await first_token_time(engine, turn2, "bench")
        engine.forget("bench")
        cold = await first_token_time(engine, turn2, "bench")
        runs.append({"warm_ttft_s": warm, "cold_ttft_s": cold, "ratio": warm / cold})
    return {
        "prefix": {
            "ratio": statistics.median(r["ratio"] for r in runs),
            "warm_ttft_s": statistics.median(r["warm_ttft_s"] for r in runs),
            "cold_ttft_s": statistics.median(r["cold_ttft_s"] for r in runs),
            "history_tokens": history,
            "runs": runs,
        }
    }
