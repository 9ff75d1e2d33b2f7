"""One writer at a time per channel, at most one write per interval.

Discord's rate limits are per route and per channel and are not to be hard-coded; Muse
keeps well under them instead of leaning on 429s: every message or edit a streamed
reply makes in a channel takes a turn here, so a burst of concurrent replies in one
channel shares about one write per `interval` (asyncio locks wake waiters in FIFO
order, so replies take turns fairly). discord.py's own 429 handling stays the safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator


class ChannelPacer:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._locks: dict[int, asyncio.Lock] = {}
        self._last: dict[int, float] = {}

    @contextlib.asynccontextmanager
    async def turn(self, channel_id: int) -> AsyncIterator[None]:
        """Hold the channel's turn for one write; waits for the interval since the last."""
        lock = self._locks.setdefault(channel_id, asyncio.Lock())
        async with lock:
            last = self._last.get(channel_id)
            if last is not None:
                wait = last + self.interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            try:
                yield
            finally:
                # Measured from the end of the write: a write slowed by a 429 retry
                # pushes the next one back too.
                self._last[channel_id] = time.monotonic()
                self._forget_idle()

    def _forget_idle(self) -> None:
        # Keep the tables small on bots in many channels: drop channels idle for a while.
        if len(self._last) < 1024:
            return
        horizon = time.monotonic() - max(self.interval, 1.0) * 10
        for channel_id, last in list(self._last.items()):
            lock = self._locks.get(channel_id)
            if last < horizon and (lock is None or not lock.locked()):
                self._last.pop(channel_id, None)
                self._locks.pop(channel_id, None)
