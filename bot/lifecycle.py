"""Run adapters until input ends or a signal arrives, then shut down gracefully:
stop taking work, let in-flight requests finish within a timeout, cancel the rest
(telling their users), close the database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from typing import Any

from core.chat.service import Muse

log = logging.getLogger(__name__)


# After the drain timeout, replies being written get this long to end with their
# "(interrupted)" mark and be stored, before whatever is left is cancelled.
WRAP_UP_SECONDS = 1.5


async def _idle_within(muse: Muse, seconds: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(muse.admission.idle.wait(), seconds)
    return muse.admission.idle.is_set()


async def drain(muse: Muse, timeout: float) -> int:
    """Refuse new work, wait for in-flight work, then interrupt replies still being
    written (they end with a mark and are stored as shown); cancel what is left.
    Returns how many requests were cancelled."""
    muse.closing = True
    if not await _idle_within(muse, timeout):
        muse.interrupting.set()
        await _idle_within(muse, WRAP_UP_SECONDS)
    left = muse.admission.cancel_all()
    if left:
        log.warning("shutdown: cancelled %d request(s) still running after %.0f s", left, timeout)
        await asyncio.sleep(0)  # let them tell their users
    return left


async def serve(
    muse: Muse, adapters: list[Coroutine[Any, Any, None]], shutdown_timeout: float
) -> None:
    """Run `adapters` (coroutines) until one ends or SIGINT/SIGTERM; then drain.

    An adapter that fails (a fatal platform error, or a bug) stops Muse on every platform:
    after the drain its exception is raised again, so the process exits non-zero and a
    supervisor sees it, rather than half of Muse running on quietly.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    tasks = [asyncio.create_task(a) for a in adapters]
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        if stopper in done:
            log.info("signal received: shutting down")
        failure = next((t.exception() for t in done if t is not stopper and t.exception()), None)
        await drain(muse, shutdown_timeout)
        if failure is not None:
            raise failure
    finally:
        stopper.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for sig in handled:
            loop.remove_signal_handler(sig)
