"""`/imagine` through the core's command path (and the shell adapter), on the tiny pipeline."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adapters.shell import REPLY_PREFIX, ShellAdapter
from bot.features import register_commands
from core.chat.service import Muse
from core.commands.imagine import format_caption
from core.fair_use.moderation import Moderator
from core.fair_use.settings import LimitSettings, ModerationRule
from core.image.engine import GeneratedImage, ImageEngine, ImageResult, read_png_metadata
from core.image.options import ImagineOptions
from core.memory.store import Memory
from core.text.engine import TextEngine
from core.text.settings import TextSettings
from tests.conftest_image import *  # noqa: F403  (tiny_image_dir, image_settings, image_engine)
from tests.helpers import RecordingReply, msg


def read_file(path: Path) -> bytes:
    return path.read_bytes()


@pytest.fixture
async def image_muse(
    memory: Memory, text_engine: TextEngine, text_settings: TextSettings, image_engine: ImageEngine
) -> AsyncIterator[Muse]:
    core = Muse(
        memory=memory,
        text_engine=text_engine,
        arbiter=text_engine.arbiter,
        text_settings=text_settings,
        limits=LimitSettings(daily_images=3),
        moderator=Moderator([ModerationRule(id="no-gore", words=["gore"])]),
        image_engine=image_engine,
        image_settings=image_engine.settings,
    )
    register_commands(core)
    yield core


def result(seeds: list[int], blocked: list[bool], **kw: object) -> ImageResult:
    options = ImagineOptions("a lighthouse", seed=seeds[0], steps=2, width=512, height=512, **kw)  # type: ignore[arg-type]
    images = tuple(
        GeneratedImage(i, s, b"" if b else b"png", b)
        for i, (s, b) in enumerate(zip(seeds, blocked, strict=True))
    )
    return ImageResult(options, "sd-turbo", images)


def test_caption_reports_seeds_size_steps_and_blocks() -> None:
    assert format_caption(result([42], [False])) == "“a lighthouse” · seed 42 · 512x512 · 2 steps"
    caption = format_caption(result([42, 43], [False, True], guidance=1.5))
    assert caption == (
        "“a lighthouse” · seeds 42, 43 · 512x512 · 2 steps · guidance 1.5"
        " — 1 of 2 images blocked by the safety filter"
    )
    assert format_caption(result([7], [True])).endswith(
        "seed 7 · 512x512 · 2 steps — blocked by the safety filter"
    )


async def test_imagine_uploads_pngs_with_a_caption(image_muse: Muse) -> None:
    reply = RecordingReply()
    await image_muse.run_command(
        "imagine", msg('a lighthouse --negative "blurry" --seed 42 --size 128x96 --count 2'), reply
    )
    assert reply.statuses == [] and len(reply.uploads) == 1, reply.sent
    files, caption = reply.uploads[0]
    assert caption == "“a lighthouse” · seeds 42, 43 · 128x96 · 2 steps"
    assert [f.mime for f in files] == ["image/png", "image/png"]
    assert len({f.filename for f in files}) == 2
    for file, seed in zip(files, (42, 43), strict=True):
        assert file.filename.startswith(f"muse-{seed}-") and file.filename.endswith(".png")
        assert Image.open(io.BytesIO(file.data)).size == (128, 96)
        meta = read_png_metadata(file.data)
        assert (meta["seed"], meta["negative_prompt"]) == (str(seed), "blurry")


async def test_bad_options_are_a_private_one_line_answer(image_muse: Muse) -> None:
    reply = RecordingReply()
    await image_muse.run_command("imagine", msg("a cat --steps -1"), reply)
    assert reply.last == "--steps -1: must be a whole number from 1 to 50"
    assert reply.ephemeral[-1] is True and reply.uploads == []
    assert image_muse.image_engine.pipeline_calls == 0


async def test_all_blocked_sends_a_note_and_no_files(image_muse: Muse) -> None:
    with torch.no_grad():
        image_muse.image_engine.pipe.safety_checker.concept_embeds_weights.fill_(-2.0)
    reply = RecordingReply()
    await image_muse.run_command("imagine", msg("a cat --seed 5"), reply)
    assert reply.uploads == []
    assert reply.last.endswith("seed 5 · 64x64 · 2 steps — blocked by the safety filter")


async def test_moderation_and_daily_budget_apply(image_muse: Muse) -> None:
    reply = RecordingReply()
    await image_muse.run_command("imagine", msg("lots of gore"), reply)
    assert reply.last == "I can't help with that here."
    assert image_muse.image_engine.pipeline_calls == 0
    await image_muse.run_command("imagine", msg("a cat --count 3"), reply)
    assert len(reply.uploads) == 1
    await image_muse.run_command("imagine", msg("a dog"), reply)
    assert "budget of 3 images" in reply.last and len(reply.uploads) == 1


async def test_shell_writes_png_files_and_prints_their_paths(
    image_muse: Muse, tmp_path: Path
) -> None:
    out = io.StringIO()
    shell = ShellAdapter(image_muse, stdin=io.StringIO(), stdout=out, image_dir=tmp_path / "imgs")
    line = '/imagine a lighthouse at dawn --negative "blurry" --seed 42 --steps 2 --size 64x64'
    await shell.handle_line(line)
    printed = out.getvalue().splitlines()
    assert printed[0] == f"{REPLY_PREFIX}“a lighthouse at dawn” · seed 42 · 64x64 · 2 steps"
    first = Path(printed[1])
    assert first.parent == (tmp_path / "imgs").resolve() and first.suffix == ".png"
    data = read_file(first)
    assert read_png_metadata(data)["prompt"] == "a lighthouse at dawn"
    assert Image.open(first).size == (64, 64)
    await shell.handle_line(line.replace("64x64", "64x64 --count 2"))
    printed = out.getvalue().splitlines()
    assert "seeds 42, 43" in printed[2]
    again, other = Path(printed[3]), Path(printed[4])
    # Same seed and options: the same pixels.
    assert np.array_equal(np.asarray(Image.open(again)), np.asarray(Image.open(io.BytesIO(data))))
    assert not np.array_equal(np.asarray(Image.open(again)), np.asarray(Image.open(other)))
