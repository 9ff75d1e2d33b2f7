"""Measures how late the event loop wakes up: the worst stall is what a Discord
heartbeat or a Slack ack would have suffered."""

from __future__ import annotations

import asyncio
import logging
import time

log = logging.getLogger(__name__)


class LoopMonitor:
    def __init__(self, interval: float = 0.01, warn_ms: float = 1000.0) -> None:
        """`warn_ms`: a stall this long risks a missed Discord heartbeat or a late Slack
        ack, worth a WARNING; shorter new worsts are logged at debug level."""
        self.interval = interval
        self.warn_ms = warn_ms
        self.worst_ms = 0.0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="loop-monitor")

    def reset(self) -> float:
        worst, self.worst_ms = self.worst_ms, 0.0
        return worst

    async def _watch(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.interval)
            late_ms = (time.perf_counter() - before - self.interval) * 1000
            self.samples += 1
            if late_ms > self.worst_ms:
                self.worst_ms = late_ms
                level = logging.WARNING if late_ms > self.warn_ms else logging.DEBUG
                log.log(level, "event loop stalled for %.0f ms", late_ms)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
