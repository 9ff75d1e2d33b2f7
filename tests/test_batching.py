"""Batching, joining at step boundaries, and the per-conversation prefix cache."""

from __future__ import annotations

import asyncio

import pytest
import torch

from core.chat.service import Muse
from core.runtime.device import DeviceArbiter
from core.text.engine import GenerationSettings, TextEngine
from core.text.prefix_cache import PrefixCache
from core.text.settings import TextSettings
from tests.helpers import RecordingReply, msg

GREEDY = GenerationSettings(max_new_tokens=16, temperature=0)
WORDS = "the sea is calm and the lighthouse keeps its light for every ship at night".split()


def prompts(engine: TextEngine, n: int) -> list[list[int]]:
    out = []
    for i in range(n):
        text = " ".join(WORDS[: 3 + (i * 5) % len(WORDS)]) + f" {i}"
        out.append(engine.tokenizer(text, add_special_tokens=False)["input_ids"])
    return out


async def text_of(engine: TextEngine, ids: list[int], key: str | None = None) -> str:
    return "".join([p async for p in engine.stream(ids, GREEDY, cache_key=key)])


@pytest.fixture
async def engine(text_settings: TextSettings) -> TextEngine:
    e = TextEngine(text_settings, DeviceArbiter())
    await e.load()
    e.eos_ids = set()  # random weights: run every request to its full length
    return e


async def test_batched_and_one_at_a_time_give_identical_greedy_text(engine: TextEngine) -> None:
    ps = prompts(engine, 6)
    serial = [await text_of(engine, p) for p in ps]
    serial_passes = engine.forward_passes
    batched = await asyncio.gather(*(text_of(engine, p) for p in ps))
    assert list(batched) == serial
    # ... and it really was batched: far fewer forward passes than one request at a time.
    assert engine.forward_passes - serial_passes < serial_passes / 3


async def test_new_request_joins_a_running_batch(engine: TextEngine) -> None:
    long_gen = GenerationSettings(max_new_tokens=40, temperature=0)
    short_gen = GenerationSettings(max_new_tokens=4, temperature=0)
    p_long, p_short = prompts(engine, 2)
    long_pieces: list[str] = []
    started = asyncio.Event()

    async def long_request() -> None:
        async for piece in engine.stream(p_long, long_gen):
            long_pieces.append(piece)
            if len(long_pieces) == 5:
                started.set()

    task = asyncio.create_task(long_request())
    await started.wait()
    short = [p async for p in engine.stream(p_short, short_gen)]
    tokens_of_long_when_short_done = len(long_pieces)
    await task
    assert len(short) == 4
    assert len(long_pieces) == 40
    # The short request finished while the long one still had most of its steps to go.
    assert tokens_of_long_when_short_done < 20


async def test_cache_hit_gives_the_same_greedy_text_as_a_miss(engine: TextEngine) -> None:
    first, second = prompts(engine, 2)
    turn1 = await text_of(engine, first, key="conv")
    assert "conv" in engine.prefix_cache
    follow_up = (
        first
        + engine.tokenizer(turn1 + " and then", add_special_tokens=False)["input_ids"]
        + second
    )
    hits_before = engine.prefix_cache.hits
    cached = await text_of(engine, follow_up, key="conv")
    assert engine.prefix_cache.hits == hits_before + 1
    engine.forget("conv")
    cold = await text_of(engine, follow_up, key="conv")
    assert cached == cold


async def test_stopping_the_reader_cancels_at_the_next_step(engine: TextEngine) -> None:
    gen = GenerationSettings(max_new_tokens=200, temperature=0)
    stream = engine.stream(prompts(engine, 1)[0], gen)
    async for _ in stream:
        break
    await stream.aclose()
    for _ in range(20):
        await asyncio.sleep(0.01)
        if engine.running == 0:
            break
    assert engine.running == 0


def test_prefix_cache_is_bounded_and_least_recently_used_goes_first() -> None:
    import torch
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    def cache(n: int) -> DynamicCache:
        c = DynamicCache()
        c.layers = [DynamicLayer()]
        c.layers[0].update(torch.zeros(1, 1, n, 4), torch.zeros(1, 1, n, 4))
        return c

    one = 2 * 10 * 4 * 4  # keys + values, 10 positions, 4 floats of 4 bytes
    pc = PrefixCache(max_bytes=3 * one)
    for key in ("a", "b", "c"):
        pc.put(key, list(range(10)), cache(10))
    pc.take("a", list(range(12)))  # use "a": it is removed while in use
    pc.put("a", list(range(10)), cache(10))  # ... and put back as the newest
    pc.put("d", list(range(10)), cache(10))
    assert pc.used_bytes <= pc.max_bytes
    assert "b" not in pc and all(k in pc for k in "acd")
    assert pc.evictions == 1
    pc.put("huge", list(range(100)), cache(100))  # bigger than the whole budget: not kept
    assert "huge" not in pc


async def test_forget_and_persona_change_invalidate_the_cache(muse: Muse) -> None:
    reply = RecordingReply()
    key = msg("").conversation
    await muse.handle_message(msg("hello"), reply)
    assert key in muse.text_engine.prefix_cache
    await muse.run_command("forget", msg("", platform_admin=True), reply)
    assert key not in muse.text_engine.prefix_cache
    await muse.handle_message(msg("hello again"), reply)
    assert key in muse.text_engine.prefix_cache
    await muse.run_command("persona", msg("set You are terse.", platform_admin=True), reply)
    assert key not in muse.text_engine.prefix_cache


def use_model(engine: TextEngine, model: object) -> None:
    engine.model = model
    assert engine._batch is not None and not len(engine._batch)
    engine._batch.model = model  # the idle batch made at load time holds the model too


class OutOfMemoryWhen:
    """Wraps the model: raises CUDA's out-of-memory error for matching forward passes."""

    def __init__(self, model: object, batched_at_least: int, times: int, after: int = 0) -> None:
        self.model = model
        self.batched_at_least = batched_at_least
        self.times = times
        self.after = after  # let this many matching passes through first
        self.raised = 0

    def __call__(self, **kwargs: object) -> object:
        rows = kwargs["input_ids"].shape[0]  # type: ignore[attr-defined]
        if rows >= self.batched_at_least and self.raised < self.times:
            if self.after > 0:
                self.after -= 1
                return self.model(**kwargs)
            self.raised += 1
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.model(**kwargs)

    def __getattr__(self, name: str) -> object:
        return getattr(self.model, name)


async def test_out_of_memory_mid_stream_replays_in_smaller_batches(engine: TextEngine) -> None:
    ps = prompts(engine, 4)
    serial = [await text_of(engine, p) for p in ps]
    # The prefill and four decode steps of the batch of 4 pass; the fifth step fails.
    oom = OutOfMemoryWhen(engine.model, batched_at_least=3, times=1, after=5)
    use_model(engine, oom)
    got: list[list[str]] = [[] for _ in ps]

    async def collect(i: int) -> None:
        async for piece in engine.stream(ps[i], GREEDY):
            got[i].append(piece)

    await asyncio.gather(*(collect(i) for i in range(4)))
    assert oom.raised == 1 and oom.after == 0
    assert all(len(g) > 3 for g in got)
    # Nothing lost or repeated: the text the users saw is what an undisturbed run gives.
    assert ["".join(g) for g in got] == serial


async def test_out_of_memory_twice_gives_up_and_the_user_gets_an_apology(
    engine: TextEngine, muse: Muse
) -> None:
    muse.text_engine = engine
    use_model(engine, OutOfMemoryWhen(engine.model, batched_at_least=1, times=10**6))
    with pytest.raises(torch.OutOfMemoryError):
        await text_of(engine, prompts(engine, 1)[0])
    reply = RecordingReply()
    await muse.handle_message(msg("hello"), reply)
    assert reply.last.startswith("Sorry, something went wrong on my side (error id ")
    # The engine keeps serving once memory is back.
    use_model(engine, engine.model.model)
    assert await text_of(engine, prompts(engine, 1)[0])
