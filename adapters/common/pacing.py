"""One writer at a time per channel, at most one write per interval.

Platforms limit how fast a bot may post and edit in a channel (Discord per route and
channel, not to be hard-coded; Slack about one post per second per channel and Tier 3 for
updates). Adapters keep under those limits instead of leaning on 429s: every post, edit or
delete a reply makes in a channel takes a turn here, so a burst of concurrent replies in
one channel shares about one write per `interval` (asyncio locks wake waiters in FIFO
order, so replies take turns fairly). The libraries' own 429 handling stays the safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Hashable

_FORGET_AFTER = 1024  # channels tracked before idle ones are dropped


class ChannelPacer:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._last: dict[Hashable, float] = {}

    @contextlib.asynccontextmanager
    async def turn(self, channel: Hashable) -> AsyncIterator[None]:
        """Hold the channel's turn for one write; waits for the interval since the last."""
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            last = self._last.get(channel)
            if last is not None:
                wait = last + self.interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            try:
                yield
            finally:
                # Measured from the end of the write: a write slowed by a 429 retry
                # pushes the next one back too.
                self._last[channel] = time.monotonic()
                if len(self._last) > _FORGET_AFTER:
                    self._forget_idle()

    def _forget_idle(self) -> None:
        # Keep the tables small on bots in many channels: drop channels idle for a while.
        horizon = time.monotonic() - max(self.interval, 1.0) * 10
        for channel, last in list(self._last.items()):
            lock = self._locks.get(channel)
            if last < horizon and (lock is None or not lock.locked()):
                self._last.pop(channel, None)
                self._locks.pop(channel, None)
