"""When the batched path breaks (a transformers release changed its internals), the engine
notices at load and keeps answering through plain `generate`."""

from __future__ import annotations

import asyncio
import logging

import pytest
import transformers

from core.chat.service import Muse
from core.runtime.device import DeviceArbiter
from core.text import kv
from core.text.engine import GenerationSettings, TextEngine
from core.text.settings import TextSettings
from tests.helpers import RecordingReply, answered, msg

GREEDY = GenerationSettings(max_new_tokens=8, temperature=0)


def break_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """What transformers 5.24 did to Muse: a cache-layer field it read was gone."""

    def broken(cache: object) -> None:
        raise AttributeError("'DynamicLayer' object has no attribute 'dtype'")

    monkeypatch.setattr(kv, "make_roomy", broken)


async def test_fast_path_passes_its_check_on_the_locked_versions(
    text_engine: TextEngine,
) -> None:
    assert text_engine.fast_path
    assert text_engine.forward_passes == 0  # the check's passes are not counted


async def test_broken_fast_path_falls_back_and_replies_still_arrive(
    monkeypatch: pytest.MonkeyPatch,
    text_settings: TextSettings,
    memory: object,
    caplog: pytest.LogCaptureFixture,
) -> None:
    break_fast_path(monkeypatch)
    engine = TextEngine(text_settings, DeviceArbiter())
    with caplog.at_level(logging.WARNING, logger="core.text.engine"):
        await engine.load()
    assert not engine.fast_path
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert transformers.__version__ in warning and "AttributeError" in warning

    muse = Muse(
        memory=memory,  # type: ignore[arg-type]
        text_engine=engine,
        arbiter=engine.arbiter,
        text_settings=text_settings,
    )
    reply = RecordingReply()
    message = msg("hello there")
    await muse.handle_message(message, reply)
    rows = await answered(muse, message.conversation)
    assert rows[-1].content and reply.sent[-1] == rows[-1].content
    await engine.arbiter.close()


async def test_fallback_streams_the_same_greedy_text_as_the_fast_path(
    monkeypatch: pytest.MonkeyPatch, text_engine: TextEngine, text_settings: TextSettings
) -> None:
    ids = text_engine.tokenizer("the lighthouse keeps its light", add_special_tokens=False)[
        "input_ids"
    ]
    text_engine.eos_ids = set()
    fast = [p async for p in text_engine.stream(ids, GREEDY)]

    break_fast_path(monkeypatch)
    slow_engine = TextEngine(text_settings, DeviceArbiter())
    await slow_engine.load()
    slow_engine.eos_ids = set()
    assert not slow_engine.fast_path

    async def one() -> list[str]:
        return [p async for p in slow_engine.stream(ids, GREEDY)]

    first, second = await asyncio.gather(one(), one())  # queued, one at a time
    assert len(first) > 1  # streamed piece by piece, not in one lump
    assert "".join(first) == "".join(second) == "".join(fast)
    await slow_engine.arbiter.close()


async def test_fallback_stops_when_the_reader_goes_away(
    monkeypatch: pytest.MonkeyPatch, text_settings: TextSettings
) -> None:
    break_fast_path(monkeypatch)
    engine = TextEngine(text_settings, DeviceArbiter())
    await engine.load()
    engine.eos_ids = set()
    ids = engine.tokenizer("hello", add_special_tokens=False)["input_ids"]
    stream = engine.stream(ids, GenerationSettings(max_new_tokens=400, temperature=0))
    async for _ in stream:
        break
    await stream.aclose()  # the request is cancelled; generate() stops at the next token
    after = [p async for p in engine.stream(ids, GREEDY)]
    assert after  # the engine is free again
    await engine.arbiter.close()
