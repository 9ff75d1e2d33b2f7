"""The ComfyUI image backend against a stand-in of ComfyUI's documented API
(tests/standins/comfyui.py), through the same /imagine path as the local engine."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from bot.features import register_commands
from bot.observe import Health
from core.chat.service import Muse
from core.commands.imagine import format_caption
from core.errors import ModelUnavailable
from core.fair_use.settings import LimitSettings
from core.image.comfyui import ComfyUIEngine, fill_workflow
from core.image.engine import read_png_metadata
from core.image.options import ImageSettings, ImagineOptions
from core.memory.store import Memory
from core.text.engine import TextEngine
from tests.helpers import RecordingReply, msg
from tests.standins.comfyui import ComfyStandin


def comfy_settings(url: str, **changes: object) -> ImageSettings:
    values: dict[str, object] = {
        "backend": "comfyui",
        "comfyui_url": url,
        "model": "tiny.safetensors",
        "width": 64,
        "height": 64,
        "steps": 3,
        "max_width": 512,
        **changes,
    }
    return ImageSettings.model_validate(values)


@pytest.fixture
async def comfy() -> AsyncIterator[ComfyStandin]:
    async with ComfyStandin() as server:
        yield server


@pytest.fixture
async def engine(comfy: ComfyStandin) -> AsyncIterator[ComfyUIEngine]:
    made = ComfyUIEngine(comfy_settings(comfy.url))
    await made.load()
    yield made
    await made.close()


@pytest.fixture
async def comfy_muse(memory: Memory, text_engine: TextEngine, engine: ComfyUIEngine) -> Muse:
    core = Muse(
        memory=memory,
        text_engine=text_engine,
        arbiter=text_engine.arbiter,
        text_settings=text_engine.settings,
        limits=LimitSettings(daily_images=10),
        image_engine=engine,  # type: ignore[arg-type]
        image_settings=engine.settings,
    )
    register_commands(core)
    return core


async def test_imagine_draws_on_comfyui_with_the_same_seeds_metadata_and_caption(
    comfy_muse: Muse, comfy: ComfyStandin, engine: ComfyUIEngine
) -> None:
    reply = RecordingReply()
    await comfy_muse.run_command(
        "imagine", msg("a red lighthouse --seed 41 --count 2 --negative fog --width 96"), reply
    )
    files, caption = reply.uploads[-1]
    assert len(files) == 2
    # One queued graph per picture, each with its own seed, the values typed as ComfyUI wants.
    samplers = [next(n for n in g.values() if n["class_type"] == "KSampler") for g in comfy.queued]
    assert [s["inputs"]["seed"] for s in samplers] == [41, 42]
    assert all(s["inputs"]["steps"] == 3 and s["inputs"]["cfg"] == 0.0 for s in samplers)
    texts = [n["inputs"]["text"] for n in comfy.queued[0].values() if "text" in n["inputs"]]
    assert texts == ["a red lighthouse", "fog"]
    assert comfy.progress_sent == 6  # the progress messages were there to follow
    for seed, file in zip((41, 42), files, strict=True):
        with Image.open(io.BytesIO(file.data)) as picture:
            assert picture.size == (96, 64)
        meta = read_png_metadata(file.data)
        # Muse's metadata, as a local picture has it (ComfyUI's own graph chunk is gone).
        assert (meta["seed"], meta["prompt"], meta["negative_prompt"]) == (
            str(seed),
            "a red lighthouse",
            "fog",
        )
        assert (meta["model"], meta["sampler"], meta["software"]) == (
            "tiny.safetensors",
            "euler",
            "Muse",
        )
        assert f"Seed: {seed}, Size: 96x64" in meta["parameters"]
        assert "workflow" not in meta and meta["prompt"] != json.dumps(comfy.queued[0])
    result = await engine.generate(
        ImagineOptions("a red lighthouse", seed=41, count=2, negative="fog", width=96)
    )
    assert caption == format_caption(result)
    assert engine.progress == {}  # nothing left tracked


async def test_options_and_limits_are_checked_before_anything_is_queued(
    comfy_muse: Muse, comfy: ComfyStandin
) -> None:
    reply = RecordingReply()
    await comfy_muse.run_command("imagine", msg("a cat --width 4096"), reply)
    assert reply.ephemeral[-1] and "width" in reply.last and "512" in reply.last
    assert comfy.queued == []


async def test_a_workflow_file_is_filled_in_and_a_bad_one_is_named(
    comfy: ComfyStandin, tmp_path: Path
) -> None:
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "{{model}}"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "masterpiece, {{prompt}}"}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": "{{width}}", "height": "{{height}}"},
        },
        "3": {
            "class_type": "KSampler",
            "inputs": {"seed": "{{seed}}", "steps": "{{steps}}", "sampler_name": "dpmpp_2m"},
        },
    }
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(graph))
    engine = ComfyUIEngine(comfy_settings(comfy.url, comfyui_workflow=str(path)))
    await engine.load()
    result = await engine.generate(ImagineOptions("a fox", seed=5))
    assert comfy.queued[0]["2"]["inputs"]["text"] == "masterpiece, a fox"
    assert comfy.queued[0]["3"]["inputs"]["seed"] == 5
    assert read_png_metadata(result.images[0].png)["sampler"] == "dpmpp_2m"
    await engine.close()
    path.write_text('{"nodes": [1, 2]}')  # the UI's format, not the API's
    with pytest.raises(ModelUnavailable, match=r"Save \(API Format\)"):
        await ComfyUIEngine(comfy_settings(comfy.url, comfyui_workflow=str(path))).load()


def test_fill_workflow_keeps_numbers_numbers_and_text_text() -> None:
    filled = fill_workflow({"a": "{{seed}}", "b": ["x {{seed}}", 1]}, {"seed": 7})
    assert filled == {"a": 7, "b": ["x 7", 1]}


async def test_a_refused_graph_and_a_failed_run_are_faults_with_their_reason(
    comfy_muse: Muse, comfy: ComfyStandin, engine: ComfyUIEngine, caplog: pytest.LogCaptureFixture
) -> None:
    reply = RecordingReply()
    engine.model_name = "missing.safetensors"
    await comfy_muse.run_command("imagine", msg("a cat"), reply)
    assert reply.last.startswith("Sorry, something went wrong on my side (error id ")
    assert "ComfyUI refused the workflow (HTTP 400)" in caplog.text and "ckpt_name" in caplog.text
    engine.model_name = "tiny.safetensors"
    comfy.fail_with = "CUDA out of memory"
    await comfy_muse.run_command("imagine", msg("a cat"), reply)
    assert reply.last.startswith("Sorry, something went wrong")
    assert "ComfyUI failed on node 3: CUDA out of memory" in caplog.text


async def test_cancelling_takes_the_prompts_off_comfyuis_queue(
    comfy: ComfyStandin, engine: ComfyUIEngine
) -> None:
    comfy.hold.clear()  # the server is busy: prompts wait in its queue
    task = asyncio.create_task(engine.generate(ImagineOptions("a cat", seed=1, count=2)))
    for _ in range(500):
        if len(comfy.queued) == 2:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(comfy.deleted) == 2


async def test_an_unreachable_server_is_survived_and_readiness_says_so(memory: Memory) -> None:
    comfy = await ComfyStandin().__aenter__()
    engine = ComfyUIEngine(comfy_settings(comfy.url))
    await engine.load()
    health = Health(image_wanted=True, image=engine, memory=memory)  # type: ignore[arg-type]
    assert (await health.checks())["image_model"] == "ok"
    await comfy.__aexit__(None, None, None)  # the image box goes away
    assert (await health.checks())["image_model"].startswith("unreachable: ")
    with pytest.raises(Exception, match="I can't reach my image server right now"):
        await engine.generate(ImagineOptions("a cat"))
    await engine.close()


async def test_a_reference_picture_is_refused_in_words_not_drawn_without(
    engine: ComfyUIEngine, comfy: ComfyStandin
) -> None:
    from core.errors import UserError

    with pytest.raises(UserError, match="reference picture is not available"):
        await engine.generate(ImagineOptions("a cat"), Image.new("RGB", (64, 64)))
    assert comfy.queued == []
