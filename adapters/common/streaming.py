"""Showing a reply while it is generated, without falling behind the model.

Adapters stream by editing a message; each write waits for the channel's pacing turn and
the platform's answer. `follow` collects the pieces while a single writer task shows the
text so far: pieces that arrive during a write pile up and the next write shows them all,
so a slow channel gets fewer, bigger edits instead of a backlog, and the model never
waits for the platform.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

Show = Callable[[Callable[[], str]], Awaitable[None]]


async def follow(pieces: AsyncIterator[str], show: Show) -> str:
    """Consume `pieces`, calling `show(current)` whenever there is new text and no write is
    under way (`current()` reads the newest text, so a write waiting for its turn shows
    what has arrived by then). Returns the whole text; the caller makes the final write.

    A failed write stops the stream and its error is raised; if the stream fails or is
    cancelled, the writer is cancelled and the stream's own error is raised.
    """
    parts: list[str] = []
    wake = asyncio.Event()
    finished = False

    def current() -> str:
        return "".join(parts)

    async def writer() -> None:
        while True:
            await wake.wait()
            wake.clear()
            if finished:
                return
            if current().strip():  # leading whitespace alone shows nothing yet
                await show(current)

    task = asyncio.create_task(writer())
    try:
        async for piece in pieces:
            parts.append(piece)
            wake.set()
            if task.done():
                break  # the writer failed; its error is raised below
    except BaseException:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task  # the stream's own error is the one worth raising
        raise
    finished = True
    wake.set()
    await task
    return current()
