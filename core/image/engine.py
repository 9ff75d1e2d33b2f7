"""Text-to-image generation with diffusers: batched, off the event loop, on the shared device.

Each requested image is a *slot* (request, index, seed). A runner task on the event
loop gathers pending slots that share a shape — (width, height, steps, guidance, and
whether there is a negative prompt) — into one pipeline call with a list of prompts and
one seeded `torch.Generator` per image, runs it through the DeviceArbiter, and routes
each picture back to its requester. Slots gather during a short window when the engine
is idle, and whatever queued up while the device was busy goes into the next call.

Seeds: image i of a request with seed s uses seed s+i (mod 2**32), recorded in that
image's metadata, so any single image can be remade alone with `--seed s+i`. Noise is
drawn from CPU generators, so a seed means the same starting noise on every device.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import math
import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import torch
from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from core.errors import UserError
from core.image.options import MAX_SEED, ImageSettings, ImagineOptions, validate_imagine
from core.runtime import metrics
from core.runtime.device import DeviceArbiter, is_oom, pick_device, pick_dtype
from core.runtime.models import missing_folder, model_unavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GeneratedImage:
    index: int  # position within its request
    seed: int
    png: bytes  # empty when blocked: a blocked picture never leaves the engine
    blocked: bool = False

    @property
    def filename(self) -> str:
        digest = hashlib.sha1(self.png).hexdigest()[:8]
        return f"muse-{self.seed}-{digest}.png"


@dataclass(frozen=True)
class ImageResult:
    options: ImagineOptions
    model: str
    images: tuple[GeneratedImage, ...]

    @property
    def delivered(self) -> list[GeneratedImage]:
        return [im for im in self.images if not im.blocked]

    @property
    def blocked_count(self) -> int:
        return sum(1 for im in self.images if im.blocked)

    @property
    def seeds(self) -> list[int]:
        return [im.seed for im in self.images]


@dataclass(eq=False)
class _Request:
    options: ImagineOptions
    future: asyncio.Future[ImageResult]
    reference: Image.Image | None = None  # image-to-image: the picture to start from
    done: dict[int, GeneratedImage] = field(default_factory=dict)


@dataclass(eq=False)
class _Slot:
    request: _Request
    index: int
    seed: int

    @property
    def key(self) -> tuple[Any, ...]:
        o = self.request.options
        # Negatives are in the key: some pipelines treat "no negative" differently from
        # an empty one, and a batch shares that choice. Image-to-image requests batch
        # only with others of the same strength.
        reference = self.request.reference is not None
        return (o.width, o.height, o.steps, o.guidance, bool(o.negative), reference, o.strength)


class _OutOfMemory(Exception):
    """The device ran out of memory; raised fresh so the failed call's tensors are freed."""


def model_label(name: str) -> str:
    """What PNG metadata calls the model: the hub id, or a local folder's name only."""
    return os.path.basename(os.path.normpath(name)) if os.path.isdir(name) else name


def png_parameters(options: ImagineOptions, seed: int, sampler: str, model: str) -> str:
    """The AUTOMATIC1111 `parameters` text that image tools show and parse."""
    lines = [options.prompt]
    if options.negative:
        lines.append(f"Negative prompt: {options.negative}")
    strength = f", Denoising strength: {options.strength:g}" if options.strength is not None else ""
    lines.append(
        f"Steps: {options.steps}, Sampler: {sampler}, CFG scale: {options.guidance:g}, "
        f"Seed: {seed}, Size: {options.width}x{options.height}, Model: {model}{strength}"
    )
    return "\n".join(lines)


def encode_png(
    image: Image.Image, options: ImagineOptions, seed: int, sampler: str, model: str
) -> bytes:
    info = PngInfo()
    info.add_text("parameters", png_parameters(options, seed, sampler, model))
    fields = {
        "prompt": options.prompt,
        "negative_prompt": options.negative,
        "seed": seed,
        "steps": options.steps,
        "width": options.width,
        "height": options.height,
        "guidance": f"{options.guidance:g}",
        "sampler": sampler,
        "model": model,
        "software": "Muse",
    }
    if options.strength is not None:  # image-to-image
        fields["strength"] = f"{options.strength:g}"
    for key, value in fields.items():
        info.add_text(key, str(value))  # non-Latin-1 text goes into an iTXt chunk
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def read_png_metadata(data: bytes) -> dict[str, str]:
    """Every text chunk of a PNG (the `parameters` string and the separate keys)."""
    with Image.open(io.BytesIO(data)) as image:
        return {str(k): str(v) for k, v in image.text.items()}  # type: ignore[attr-defined]


def options_from_metadata(meta: dict[str, str]) -> ImagineOptions:
    """The options that remake one image from its metadata (count 1, its own seed)."""
    return ImagineOptions(
        prompt=meta["prompt"],
        negative=meta.get("negative_prompt", ""),
        seed=int(meta["seed"]),
        steps=int(meta["steps"]),
        width=int(meta["width"]),
        height=int(meta["height"]),
        guidance=float(meta["guidance"]),
        count=1,
    )


class ImageEngine:
    def __init__(self, settings: ImageSettings, arbiter: DeviceArbiter) -> None:
        self.settings = settings
        self.arbiter = arbiter
        self.pipe: Any = None
        self._img2img: Any = None  # made from `pipe` on first use, sharing its components
        self.device = pick_device(settings.device, "[image] device")
        self.dtype = pick_dtype(self.device, settings.dtype)
        self.model_name = settings.model
        self.model_label = model_label(settings.model)
        self.sampler = ""
        self.pipeline_calls = 0  # pipeline invocations, for tests and benchmarks
        self._pending: deque[_Slot] = deque()
        self._runner: asyncio.Task[None] | None = None

    # -- loading --------------------------------------------------------------------------

    async def load(self, model: str | None = None) -> None:
        await asyncio.to_thread(self._load, model or self.settings.model)

    def _load(self, name: str) -> None:
        if (missing := missing_folder(name, "[image] model")) is not None:
            raise missing
        # `dtype` is today's name (`torch_dtype` warns); a release that predates it ignores
        # the keyword, which the cast after loading makes up for.
        kwargs: dict[str, Any] = {"dtype": self.dtype}
        if not self.settings.safety_checker:
            kwargs.update(safety_checker=None, requires_safety_checker=False)
        try:
            pipe = AutoPipelineForText2Image.from_pretrained(name, **kwargs)
        except (OSError, ValueError) as exc:  # hub unreachable, missing repo, not a pipeline
            raise model_unavailable(name, "[image] model", exc) from exc
        pipe = (
            pipe.to(self.device) if pipe.dtype == self.dtype else pipe.to(self.device, self.dtype)
        )
        pipe.set_progress_bar_config(disable=True)  # one bar per request would flood logs
        self.pipe = pipe
        self._img2img = None
        self.model_name = name
        self.model_label = model_label(name)
        self.sampler = type(pipe.scheduler).__name__.removesuffix("Scheduler")
        checker = "on" if self.has_safety_checker else "off or not shipped"
        log.info(
            "image model %s on %s (%s), safety checker %s", name, self.device, self.dtype, checker
        )

    @property
    def has_safety_checker(self) -> bool:
        return getattr(self.pipe, "safety_checker", None) is not None

    # -- public API -----------------------------------------------------------------------

    @property
    def img2img(self) -> Any:
        """The image-to-image pipeline over the loaded model's own components
        (`from_pipe`: no second copy of the weights)."""
        if self._img2img is None:
            try:
                self._img2img = AutoPipelineForImage2Image.from_pipe(self.pipe)
            except ValueError as exc:  # a pipeline family without an image-to-image variant
                raise UserError(
                    f"The image model {self.model_label} cannot start from a reference picture."
                ) from exc
            self._img2img.set_progress_bar_config(disable=True)
        return self._img2img

    async def generate(
        self, options: ImagineOptions, reference: Image.Image | None = None
    ) -> ImageResult:
        """Make `options.count` images; raises UserError if the device ran out of memory.

        Options are validated (defaults and a seed filled in) against the settings. With
        a `reference` picture (options.reference says where it came from) the pictures
        start from it, `options.strength` away from it (image-to-image).
        """
        if self.pipe is None:
            raise RuntimeError("ImageEngine.load() has not been awaited")
        options = validate_imagine(options, self.settings)
        assert options.seed is not None and options.count is not None
        loop = asyncio.get_running_loop()
        if reference is not None:
            # Image-to-image keeps the reference's size: it is fitted to the one asked for.
            size = (options.width or 0, options.height or 0)
            reference = reference.convert("RGB").resize(size, Image.Resampling.LANCZOS)
        request = _Request(options, loop.create_future(), reference)
        for i in range(options.count):
            self._pending.append(_Slot(request, i, (options.seed + i) % (MAX_SEED + 1)))
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run(), name="muse-images")
        return await request.future  # cancelling the caller drops its remaining slots

    async def readiness(self) -> str:
        return "ok" if self.pipe is not None else "loading"

    @property
    def queued_images(self) -> int:
        return sum(1 for s in self._pending if not s.request.future.done())

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
        for slot in self._pending:
            if not slot.request.future.done():
                slot.request.future.cancel()
        self._pending.clear()

    # -- the runner (event loop side) ----------------------------------------------------

    async def _run(self) -> None:
        if self.settings.batch_window_ms:
            await asyncio.sleep(self.settings.batch_window_ms / 1000)
        while batch := self._take():
            try:
                await self._serve(batch)
            except Exception as exc:  # a bug here must not leave requesters waiting forever
                log.exception("image batch failed")
                self._fail(batch, exc)

    def _take(self) -> list[_Slot]:
        """The oldest live slot and every queued slot of the same shape, up to the limit."""
        live = [s for s in self._pending if not s.request.future.done()]
        if not live:
            self._pending.clear()
            return []
        key, batch, rest = live[0].key, [], deque()
        for slot in live:
            if slot.key == key and len(batch) < self.settings.max_batch_images:
                batch.append(slot)
            else:
                rest.append(slot)
        self._pending = rest
        return batch

    async def _serve(self, slots: list[_Slot]) -> None:
        try:
            made = await self._call(slots)
        except _OutOfMemory:
            # Retry once in halves (less activation memory each); what still fails is
            # reported to its requesters and the engine carries on.
            made = []
            halves = [slots[: len(slots) // 2], slots[len(slots) // 2 :]]
            for half in halves if len(slots) > 1 else [slots]:
                # Skip what a failed first half has already answered.
                half = [s for s in half if not s.request.future.done()]
                if not half:
                    continue
                try:
                    made += await self._call(half)
                except _OutOfMemory:
                    self._fail(half, None)
                except Exception as exc:
                    self._fail(half, exc)
        except Exception as exc:
            log.warning("image generation failed: %r", exc)
            self._fail(slots, exc)
            return
        try:
            encoded = await asyncio.to_thread(self._encode, made)
        except Exception as exc:
            self._fail([slot for slot, _ in made], exc)
            return
        for slot, image in encoded:
            request = slot.request
            request.done[slot.index] = image
            if len(request.done) == request.options.count and not request.future.done():
                images = tuple(request.done[i] for i in sorted(request.done))
                request.future.set_result(ImageResult(request.options, self.model_label, images))

    def _fail(self, slots: list[_Slot], exc: BaseException | None) -> None:
        for request in {id(s.request): s.request for s in slots}.values():
            if request.future.done():
                continue
            if exc is None:
                o = request.options
                exc_for = UserError(
                    f"The GPU ran out of memory making {o.count} image(s) of {o.size}; "
                    "try a smaller size or fewer images."
                )
                request.future.set_exception(exc_for)
            else:
                request.future.set_exception(exc)

    async def _call(self, slots: list[_Slot]) -> list[tuple[_Slot, Image.Image | None]]:
        return await self.arbiter.run("image", self._pipeline_job, slots)

    # -- device jobs (device thread) -----------------------------------------------------

    def _pipeline_job(self, slots: list[_Slot]) -> list[tuple[_Slot, Image.Image | None]]:
        """One pipeline call for `slots` (same shape); None marks a blocked image."""
        first = slots[0].request.options
        kwargs: dict[str, Any] = dict(
            prompt=[s.request.options.prompt for s in slots],
            num_inference_steps=first.steps,
            guidance_scale=first.guidance,
            generator=[torch.Generator("cpu").manual_seed(s.seed) for s in slots],
            num_images_per_prompt=1,
            output_type="pil",
        )
        pipe = self.pipe
        if slots[0].request.reference is not None and first.strength is not None:
            pipe = self.img2img
            kwargs["image"] = [s.request.reference for s in slots]
            kwargs["strength"] = first.strength
            # Image-to-image runs steps × strength of them; at least one must be left.
            kwargs["num_inference_steps"] = max(first.steps or 1, math.ceil(1 / first.strength))
        else:
            kwargs.update(width=first.width, height=first.height)
        if first.negative:
            kwargs["negative_prompt"] = [s.request.options.negative for s in slots]
        self.pipeline_calls += 1
        out_of_memory = False
        began = time.monotonic()
        try:
            out = pipe(**kwargs)
            metrics.image_call(time.monotonic() - began, len(out.images))
        except Exception as exc:
            if not is_oom(exc):
                raise
            out_of_memory = True  # handled below, once the traceback (and its tensors) is gone
        if out_of_memory:
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            log.warning("out of device memory on a batch of %d image(s)", len(slots))
            raise _OutOfMemory()
        flags = getattr(out, "nsfw_content_detected", None) or [False] * len(out.images)
        return [
            (slot, None if flagged else image)
            for slot, image, flagged in zip(slots, out.images, flags, strict=True)
        ]

    def _encode(
        self, made: list[tuple[_Slot, Image.Image | None]]
    ) -> list[tuple[_Slot, GeneratedImage]]:
        out = []
        for slot, image in made:
            if image is None:
                out.append((slot, GeneratedImage(slot.index, slot.seed, b"", blocked=True)))
                continue
            png = encode_png(image, slot.request.options, slot.seed, self.sampler, self.model_label)
            out.append((slot, GeneratedImage(slot.index, slot.seed, png)))
        return out
