"""Take turns writing into a channel, at most one write per interval.

Slack allows about one chat.postMessage per second per channel, and chat.update is
Tier 3 (about 50 a minute). Every post, update or delete a streamed reply makes takes the
channel's turn here, so concurrent replies in one channel share the budget (asyncio.Lock
wakes waiters in order). slack_sdk's rate-limit retry handler is the safety net for the
workspace-wide limits this cannot see.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

_FORGET_AFTER = 1024  # channels tracked before idle ones are dropped


class ChannelPacer:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._locks: dict[str, asyncio.Lock] = {}
        self._done_at: dict[str, float] = {}

    @contextlib.asynccontextmanager
    async def turn(self, channel: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            last = self._done_at.get(channel)
            if last is not None:
                delay = last + self.interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            try:
                yield
            finally:
                # From the end of the write: a write slowed by a 429 delays the next one too.
                self._done_at[channel] = time.monotonic()
                if len(self._done_at) > _FORGET_AFTER:
                    self._drop_idle()

    def _drop_idle(self) -> None:
        horizon = time.monotonic() - max(self.interval, 1.0) * 10
        for channel, last in list(self._done_at.items()):
            lock = self._locks.get(channel)
            if last < horizon and (lock is None or not lock.locked()):
                del self._done_at[channel]
                self._locks.pop(channel, None)
