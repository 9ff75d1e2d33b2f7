"""The image engine on the tiny random pipeline, loaded through the production path."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from core.errors import ModelUnavailable, UserError
from core.image.engine import ImageEngine, options_from_metadata, read_png_metadata
from core.image.options import ImageSettings, ImagineOptions
from core.runtime.device import DeviceArbiter
from tests.conftest_image import *  # noqa: F403  (tiny_image_dir, image_settings, image_engine)


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


class CountingPipe:
    """Wraps the real pipeline to record batch sizes and inject failures (OOM)."""

    def __init__(self, pipe: Any, fail: int = 0) -> None:
        self.pipe = pipe
        self.fail = fail
        self.batches: list[int] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.batches.append(len(kwargs["prompt"]))
        if self.fail:
            self.fail -= 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return self.pipe(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipe, name)


async def test_tiny_pipeline_loads_through_the_production_path(image_engine: ImageEngine) -> None:
    assert type(image_engine.pipe).__name__ == "StableDiffusionPipeline"
    assert image_engine.pipe.tokenizer.model_max_length == 77
    assert image_engine.has_safety_checker  # the tiny one ships a (never-firing) checker
    assert image_engine.model_label == "tiny-image-v1"


async def test_requested_size_and_metadata_round_trip(image_engine: ImageEngine) -> None:
    options = ImagineOptions(
        "a lighthouse at dawn", negative="blurry", seed=42, steps=2, width=128, height=96,
        guidance=1.5, count=1,
    )  # fmt: skip
    result = await image_engine.generate(options)
    (image,) = result.images
    assert not image.blocked and image.seed == 42
    with Image.open(io.BytesIO(image.png)) as png:
        assert png.format == "PNG" and png.size == (128, 96)
    meta = read_png_metadata(image.png)
    assert meta["parameters"] == (
        "a lighthouse at dawn\nNegative prompt: blurry\n"
        "Steps: 2, Sampler: EulerDiscrete, CFG scale: 1.5, Seed: 42, Size: 128x96, "
        "Model: tiny-image-v1"
    )
    assert options_from_metadata(meta) == options
    # Remaking the image from its metadata gives the same pixels.
    again = await image_engine.generate(options_from_metadata(meta))
    assert np.array_equal(pixels(again.images[0].png), pixels(image.png))


async def test_unicode_prompt_survives_metadata(image_engine: ImageEngine) -> None:
    result = await image_engine.generate(ImagineOptions("灯台 at dawn 🌅", seed=1))
    assert read_png_metadata(result.images[0].png)["prompt"] == "灯台 at dawn 🌅"


async def test_same_seed_same_pixels_different_seed_different(image_engine: ImageEngine) -> None:
    a = await image_engine.generate(ImagineOptions("a red fox", seed=7))
    b = await image_engine.generate(ImagineOptions("a red fox", seed=7))
    c = await image_engine.generate(ImagineOptions("a red fox", seed=8))
    assert a.images[0].png == b.images[0].png
    assert np.array_equal(pixels(a.images[0].png), pixels(b.images[0].png))
    assert not np.array_equal(pixels(a.images[0].png), pixels(c.images[0].png))


async def test_count_uses_consecutive_seeds(image_engine: ImageEngine) -> None:
    result = await image_engine.generate(ImagineOptions("a boat", seed=2**32 - 2, count=3))
    assert result.seeds == [2**32 - 2, 2**32 - 1, 0]  # wraps within the seed range
    alone = await image_engine.generate(ImagineOptions("a boat", seed=2**32 - 1))
    assert np.array_equal(pixels(result.images[1].png), pixels(alone.images[0].png))
    assert len({im.png for im in result.images}) == 3


async def test_concurrent_requests_are_batched_and_routed(image_engine: ImageEngine) -> None:
    pipe = image_engine.pipe = CountingPipe(image_engine.pipe)
    requests = [
        ImagineOptions(f"request {i}", seed=1000 * (i + 1), count=1 + i % 2) for i in range(4)
    ]
    results = await asyncio.gather(*(image_engine.generate(o) for o in requests))
    assert image_engine.pipeline_calls < 4
    assert sum(pipe.batches) == 6
    for options, result in zip(requests, results, strict=True):
        assert result.options.prompt == options.prompt
        assert result.seeds == [options.seed + i for i in range(options.count or 1)]
        for image in result.images:
            meta = read_png_metadata(image.png)
            assert (meta["prompt"], int(meta["seed"])) == (options.prompt, image.seed)
    # A batched image is the image that request would get alone.
    alone = await image_engine.generate(requests[3])
    assert np.array_equal(pixels(alone.images[1].png), pixels(results[3].images[1].png))


async def test_different_shapes_are_not_mixed(image_engine: ImageEngine) -> None:
    pipe = image_engine.pipe = CountingPipe(image_engine.pipe)
    _, wide, small2 = await asyncio.gather(
        image_engine.generate(ImagineOptions("a", seed=1)),
        image_engine.generate(ImagineOptions("b", seed=2, width=128)),
        image_engine.generate(ImagineOptions("c", seed=3)),
    )
    assert pipe.batches == [2, 1]
    assert Image.open(io.BytesIO(wide.images[0].png)).size == (128, 64)
    assert Image.open(io.BytesIO(small2.images[0].png)).size == (64, 64)


async def test_max_batch_images_splits_large_bursts(image_settings: ImageSettings) -> None:
    settings = image_settings.model_copy(update={"max_batch_images": 3})
    engine = ImageEngine(settings, DeviceArbiter())
    await engine.load()
    pipe = engine.pipe = CountingPipe(engine.pipe)
    results = await asyncio.gather(
        *(engine.generate(ImagineOptions("x", seed=i * 10, count=2)) for i in range(3))
    )
    assert pipe.batches == [3, 3]
    assert [r.seeds for r in results] == [[0, 1], [10, 11], [20, 21]]
    await engine.arbiter.close()


async def test_cancelled_requester_does_not_disturb_others(image_engine: ImageEngine) -> None:
    pipe = image_engine.pipe = CountingPipe(image_engine.pipe)
    doomed = asyncio.create_task(image_engine.generate(ImagineOptions("x", seed=1, count=3)))
    kept = asyncio.create_task(image_engine.generate(ImagineOptions("y", seed=2)))
    await asyncio.sleep(0)  # both enqueued, nothing run yet
    doomed.cancel()
    result = await kept
    assert result.seeds == [2] and pipe.batches == [1]
    assert doomed.cancelled()


async def test_safety_checker_blocks_and_blocked_images_are_never_kept(
    image_engine: ImageEngine,
) -> None:
    # The tiny pipeline's real StableDiffusionSafetyChecker has thresholds nothing can
    # reach; lowering them makes it flag every image, through diffusers' own code path.
    checker = image_engine.pipe.safety_checker
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(-2.0)
    result = await image_engine.generate(ImagineOptions("anything", seed=3, count=2))
    assert [im.blocked for im in result.images] == [True, True]
    assert all(im.png == b"" for im in result.images)
    assert result.delivered == [] and result.blocked_count == 2
    assert result.seeds == [3, 4]


async def test_partly_blocked_batch(image_engine: ImageEngine) -> None:
    # Simulated: the pipeline's run_safety_checker is wrapped to flag every second image.
    pipe = image_engine.pipe
    real = pipe.run_safety_checker

    def every_second(image: Any, device: Any, dtype: Any) -> tuple[Any, list[bool]]:
        image, _ = real(image, device, dtype)
        return image, [i % 2 == 1 for i in range(len(image))]

    pipe.run_safety_checker = every_second
    result = await image_engine.generate(ImagineOptions("x", seed=10, count=4))
    assert [im.blocked for im in result.images] == [False, True, False, True]
    assert [im.seed for im in result.delivered] == [10, 12]
    assert all(im.png for im in result.delivered)


async def test_safety_checker_can_be_turned_off(image_settings: ImageSettings) -> None:
    settings = image_settings.model_copy(update={"safety_checker": False})
    engine = ImageEngine(settings, DeviceArbiter())
    await engine.load()
    assert engine.pipe.safety_checker is None and not engine.has_safety_checker
    result = await engine.generate(ImagineOptions("x", seed=1))
    assert result.blocked_count == 0
    await engine.arbiter.close()


async def test_out_of_memory_is_retried_in_halves(image_engine: ImageEngine) -> None:
    pipe = image_engine.pipe = CountingPipe(image_engine.pipe, fail=1)
    results = await asyncio.gather(
        image_engine.generate(ImagineOptions("a", seed=1, count=2)),
        image_engine.generate(ImagineOptions("b", seed=5)),
    )
    assert pipe.batches == [3, 1, 2]
    assert [r.seeds for r in results] == [[1, 2], [5]]
    assert all(im.png for r in results for im in r.images)


async def test_persistent_out_of_memory_is_a_user_error_and_the_engine_goes_on(
    image_engine: ImageEngine,
) -> None:
    pipe = image_engine.pipe = CountingPipe(image_engine.pipe, fail=2)
    with pytest.raises(UserError, match="ran out of memory making 2 image"):
        await image_engine.generate(ImagineOptions("a", seed=1, count=2))
    # The second half is not tried once the request has failed anyway.
    result = await image_engine.generate(ImagineOptions("a", seed=1, count=2))
    assert result.seeds == [1, 2]
    assert pipe.batches == [2, 1, 2]


async def test_arbiter_runs_every_pipeline_call(image_engine: ImageEngine) -> None:
    await image_engine.generate(ImagineOptions("a", seed=1))
    assert image_engine.arbiter.jobs_run == {"image": image_engine.pipeline_calls}


async def test_missing_model_is_a_clear_message(tmp_path: Path) -> None:
    engine = ImageEngine(ImageSettings(model=str(tmp_path / "nope")), DeviceArbiter())
    with pytest.raises(ModelUnavailable) as info:
        await engine.load()
    message = str(info.value)
    assert "nope" in message and "[image] model" in message and "--tiny" in message
    assert "Traceback" not in message
    await engine.arbiter.close()


async def test_tiny_pipeline_is_reused(tiny_image_dir: Path) -> None:
    from core.image.tiny import build_tiny_pipeline

    stamp = (tiny_image_dir / "unet" / "config.json").stat().st_mtime_ns
    assert build_tiny_pipeline(tiny_image_dir) == tiny_image_dir
    assert (tiny_image_dir / "unet" / "config.json").stat().st_mtime_ns == stamp
