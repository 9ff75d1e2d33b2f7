"""Keep a platform adapter connected: retry transient failures, stop on fatal ones.

discord.py and slack_sdk reconnect by themselves once connected; what they leave to the
caller is a failed start (login unreachable, a 5xx, a gateway that never answers). Those
are retried here with capped exponential backoff and full jitter, each attempt logged
once with its delay. A fresh adapter is built for each attempt: a closed discord.py
client is not meant to be started again.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Protocol

log = logging.getLogger(__name__)

__all__ = ["Retrying", "supervise"]


class Supervised(Protocol):
    platform: str

    async def run(self) -> None: ...

    @staticmethod
    def is_transient(exc: BaseException) -> bool: ...


class Retrying:
    """Delays for attempt 1, 2, …: uniform in [0, min(cap, base * 2**(n-1))]."""

    def __init__(self, base: float = 1.0, cap: float = 60.0, rng: random.Random | None = None):
        self.base, self.cap = base, cap
        self.rng = rng or random.Random()

    def delay(self, attempt: int) -> float:
        return self.rng.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


async def supervise(
    build: Callable[[], Supervised],
    retrying: Retrying | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    healthy_after: float = 300.0,
) -> None:
    """Run adapters from `build()` until one returns; re-raise what is not transient.

    A run that lasted `healthy_after` seconds counts as a success: the next failure
    starts the backoff from the beginning again.
    """
    retrying = retrying or Retrying()
    loop = asyncio.get_running_loop()
    attempt = 0
    while True:
        adapter = build()
        started = loop.time()
        try:
            await adapter.run()
            return
        except Exception as exc:
            if not adapter.is_transient(exc):
                raise
            attempt = 1 if loop.time() - started >= healthy_after else attempt + 1
            wait = retrying.delay(attempt)
            log.warning(
                "%s: %s; retrying in %.1f s (attempt %d)",
                adapter.platform,
                _reason(exc),
                wait,
                attempt,
            )
            await sleep(wait)
