from __future__ import annotations

import asyncio

import pytest

from core.errors import ModelUnavailable
from core.runtime.device import DeviceArbiter
from core.text.engine import GenerationSettings, TextEngine
from core.text.settings import TextSettings
from tests.helpers import run_muse


async def collect(engine: TextEngine, ids: list[int], gen: GenerationSettings) -> list[str]:
    return [p async for p in engine.stream(ids, gen)]


def prompt_ids(engine: TextEngine, text: str) -> list[int]:
    return engine.tokenizer(text, add_special_tokens=False)["input_ids"]


async def test_loads_saved_model_and_streams_tokens(text_engine: TextEngine) -> None:
    ids = prompt_ids(text_engine, "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n")
    pieces = await collect(text_engine, ids, GenerationSettings(max_new_tokens=10, temperature=0))
    assert len(pieces) >= 2  # streamed, not delivered in one lump
    assert all(pieces)
    again = await collect(text_engine, ids, GenerationSettings(max_new_tokens=10, temperature=0))
    assert "".join(again) == "".join(pieces)  # greedy is deterministic


async def test_seeded_sampling_is_reproducible(text_engine: TextEngine) -> None:
    ids = prompt_ids(text_engine, "hello there")
    gen = GenerationSettings(max_new_tokens=12, temperature=1.0, top_p=1.0, seed=7)
    a = "".join(await collect(text_engine, ids, gen))
    b = "".join(await collect(text_engine, ids, gen))
    assert a == b


async def test_concurrent_requests_interleave_and_loop_stays_free(text_engine: TextEngine) -> None:
    ids = prompt_ids(text_engine, "hello")
    gen = GenerationSettings(max_new_tokens=12, temperature=0)
    order: list[str] = []
    ticks = 0

    async def run(name: str) -> None:
        async for _ in text_engine.stream(ids, gen):
            order.append(name)

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    tick_task = asyncio.create_task(ticker())
    await asyncio.gather(run("a"), run("b"))
    tick_task.cancel()
    # Neither request waited for the other to finish.
    first_b = order.index("b")
    last_a = len(order) - 1 - order[::-1].index("a")
    assert first_b < last_a
    assert ticks > len(order)  # the event loop kept running other tasks


async def test_missing_model_names_model_key_and_tiny() -> None:
    engine = TextEngine(TextSettings(model="no-such-org/no-such-model"), DeviceArbiter())
    with pytest.raises(ModelUnavailable) as err:
        await engine.load()
    text = str(err.value)
    assert "no-such-org/no-such-model" in text and "[text] model" in text and "--tiny" in text


@pytest.mark.parametrize("where", ["./models/qwen", "/srv/models/none", "~/nope/model"])
async def test_a_missing_local_folder_is_named_as_such(where: str) -> None:
    engine = TextEngine(TextSettings(model=where), DeviceArbiter())
    with pytest.raises(ModelUnavailable) as err:
        await engine.load()
    text = str(err.value)
    assert f"Model folder '{where}' does not exist" in text and "[text] model" in text
    assert "network" not in text and "repo_name" not in text


@pytest.mark.slow
def test_cli_offline_error_has_no_traceback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "muse.toml"
    cfg.write_text('[text]\nmodel = "no-such-org/no-such-model"\n')
    done = run_muse("chat", "--config", str(cfg), "--db", str(tmp_path / "d.db"))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "no-such-org/no-such-model" in done.stderr and "--tiny" in done.stderr
