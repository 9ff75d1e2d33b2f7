"""Answers about pictures: a vision-language model through transformers' image-text-to-text
API (`AutoProcessor` + `AutoModelForImageTextToText`, chat template with image parts).

This is a separate, simpler engine than TextEngine on purpose. TextEngine batches decode
steps of a decoder-only LM over its own KV cache; a VLM's prefill needs pixel values and
architecture-specific position handling (Qwen2-VL's 3-D rope, Idefics3's image splitting,
LLaVA's token expansion) that `generate()` does for every architecture and that the batched
decoder would have to copy per model. Pictures are far rarer than text, so one `generate()`
per request, streamed through a `TextStreamer`, is the right trade. It runs as one job on
the device arbiter (kind "vision", below text), so it never overlaps a text step; its
`max_new_tokens` bounds how long chat can wait behind it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import torch
from transformers import (
    AutoModelForImageTextToText,
    AutoProcessor,
    StoppingCriteria,
    StoppingCriteriaList,
    TextStreamer,
)

from core.errors import ModelUnavailable, UserError
from core.runtime.device import DeviceArbiter, is_oom, pick_device, pick_dtype
from core.runtime.models import missing_folder, model_unavailable
from core.text.request import GenerationSettings
from core.text.vision_settings import VisionSettings

__all__ = ["NotAVisionModel", "VisionEngine"]

log = logging.getLogger(__name__)
_DONE = object()


class NotAVisionModel(ModelUnavailable):
    """The configured model reads text only."""


class _ToLoop(TextStreamer):
    """Hands each finished piece of text to the event loop (TextStreamer's public hook)."""

    def __init__(
        self, tokenizer: Any, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any]
    ) -> None:
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.loop, self.queue = loop, queue

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        if text:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, text)


class _Stop(StoppingCriteria):
    """Ends generate() at its next step once the reader has gone (cancelled, interrupted)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kw: Any) -> Any:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool)


class VisionEngine:
    def __init__(self, settings: VisionSettings, arbiter: DeviceArbiter) -> None:
        self.settings = settings
        self.arbiter = arbiter
        self.model: Any = None
        self.processor: Any = None
        self.device = pick_device(settings.device, "[vision] device")
        self.dtype = pick_dtype(self.device, settings.dtype)
        self.model_name = settings.model
        self.calls = 0  # generate() calls, for tests

    async def load(self, model: str | None = None) -> None:
        await asyncio.to_thread(self._load, model or self.settings.model)

    def _load(self, name: str) -> None:
        if (missing := missing_folder(name, "[vision] model")) is not None:
            raise missing
        try:
            processor = AutoProcessor.from_pretrained(name)
            model = AutoModelForImageTextToText.from_pretrained(name, dtype=self.dtype)
        except ValueError as exc:  # transformers: no image-text-to-text class for this config
            raise NotAVisionModel(
                f"[vision] model '{name}' is not an image-text-to-text model, so Muse cannot "
                "see pictures with it; set [vision] model to a vision-language model such as "
                "HuggingFaceTB/SmolVLM-256M-Instruct (or [vision] enabled = false)."
            ) from exc
        except OSError as exc:  # hub unreachable, missing repo or files
            raise model_unavailable(name, "[vision] model", exc) from exc
        if getattr(processor, "image_processor", None) is None:
            raise NotAVisionModel(f"[vision] model '{name}' has no image processor.")
        self.model = model.to(self.device).eval()
        self.processor = processor
        self.model_name = name
        log.info("vision model %s on %s (%s)", name, self.device, self.dtype)

    @property
    def tokenizer(self) -> Any:
        return self.processor.tokenizer

    async def prepare(self, messages: list[dict[str, Any]]) -> Any:
        """The model inputs for chat `messages` (image parts carry PIL images): the
        processor's own chat template, image tokens and pixel values. `len(inputs)` is
        the prompt's length in tokens, pictures included."""
        return await asyncio.to_thread(self._prepare, messages)

    def _prepare(self, messages: list[dict[str, Any]]) -> Any:
        return self.processor.apply_chat_template(
            messages,
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
        )

    @staticmethod
    def length(inputs: Any) -> int:
        return int(inputs["input_ids"].shape[-1])

    async def stream(self, inputs: Any, gen: GenerationSettings) -> AsyncIterator[str]:
        """The reply to prepared `inputs`, piece by piece; closing the iterator stops
        generation at its next step."""
        if self.model is None:
            raise RuntimeError("VisionEngine.load() has not been awaited")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()
        streamer = _ToLoop(self.tokenizer, loop, queue)
        job = loop.create_task(
            self.arbiter.run("vision", self._generate, inputs, gen, streamer, stop)
        )
        job.add_done_callback(lambda _: queue.put_nowait(_DONE))
        try:
            while (piece := await queue.get()) is not _DONE:
                yield piece
            if (exc := job.exception()) is not None:
                if is_oom(exc):
                    if self.device.type == "cuda":
                        torch.cuda.empty_cache()
                    raise UserError(
                        "The GPU ran out of memory looking at the pictures; try fewer or "
                        "smaller ones, or a shorter conversation (/forget)."
                    ) from None
                raise exc
        finally:
            stop.set()
            if not job.done():
                await asyncio.wait([job])

    def _generate(
        self,
        inputs: Any,
        gen: GenerationSettings,
        streamer: _ToLoop,
        stop: threading.Event,
    ) -> None:
        self.calls += 1
        inputs = inputs.to(self.device)
        if "pixel_values" in inputs and inputs["pixel_values"].is_floating_point():
            inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": gen.temperature, "top_p": gen.top_p}
            if gen.temperature > 0
            else {"do_sample": False}
        )
        tokenizer = self.tokenizer
        with torch.inference_mode():
            self.model.generate(
                **inputs,
                max_new_tokens=min(gen.max_new_tokens, self.settings.max_new_tokens),
                streamer=streamer,
                stopping_criteria=StoppingCriteriaList([_Stop(stop)]),
                pad_token_id=tokenizer.pad_token_id,
                **sampling,
            )
