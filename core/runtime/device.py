"""The one place that decides what runs on the accelerator, and when.

Text and image engines never touch the model from the event loop: they hand short jobs
(a decode step, one pipeline call) to the arbiter, which runs them one at a time on a
single worker thread. Text steps outrank image jobs, so a burst of `/imagine` cannot
starve chat, and only one job holds activation memory at a time.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import torch

from core.errors import ModelUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

PRIORITY = {"text": 0, "image": 1, "background": 2}


def pick_device(preference: str = "auto", key: str = "device") -> torch.device:
    """The device a setting names; `key` (e.g. "[text] device") words the error."""
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise ModelUnavailable(
            f"{key} = {preference!r}: this machine has no usable CUDA device (torch "
            f'{torch.__version__}); set device = "auto" or "cpu", or install a CUDA build of '
            "torch."
        )
    if preference == "mps" and not torch.backends.mps.is_available():
        raise ModelUnavailable(f"{key} = 'mps': MPS is not available here; use auto or cpu.")
    if preference != "auto":
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(device: torch.device, preference: str = "auto") -> torch.dtype:
    if preference != "auto":
        return getattr(torch, preference)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError)


class DeviceArbiter:
    """Runs device jobs one at a time, highest priority first, off the event loop."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="muse-device")
        self._queue: asyncio.PriorityQueue[tuple[int, int, Callable[[], Any], asyncio.Future[Any]]]
        self._queue = asyncio.PriorityQueue()
        self._seq = itertools.count()
        self._worker: asyncio.Task[None] | None = None
        self.jobs_run: dict[str, int] = {}

    async def run(self, kind: str, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the device thread; raises what `fn` raises."""
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._drain(), name="muse-device-arbiter")
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put_nowait((PRIORITY.get(kind, 1), next(self._seq), lambda: fn(*args), fut))
        self.jobs_run[kind] = self.jobs_run.get(kind, 0) + 1
        return await fut

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            _prio, _seq, job, fut = await self._queue.get()
            if fut.cancelled():
                continue
            try:
                result = await loop.run_in_executor(self._executor, job)
            except Exception as exc:  # handed to the waiting caller
                if not fut.done():
                    fut.set_exception(exc)
            else:
                if not fut.done():
                    fut.set_result(result)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)
