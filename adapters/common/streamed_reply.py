"""A reply shown by posting, then editing, messages: what Discord and Slack share.

Every write (post, edit, delete) takes a turn of the channel's shared pacer, so a channel
sees about one write per interval however many replies stream into it at once. A streamed
answer first appears once it has something to read, a sentence or a few dozen characters
(`ready_to_show`; never a lone word; until then the platform may show a typing indicator,
`working`), and grows by edits; each turn makes the one write
that brings the messages closest to the newest text, so a slow channel gets fewer, bigger
edits rather than a backlog (`adapters.common.streaming.follow`). Text over the surface's
`max_length` continues in further messages (`adapters.common.textsplit`: code fences
closed and reopened). A status message (place in line) becomes the answer's first
message. The final state is exactly `render(final text)`.

A platform supplies its `MessageSurface` (one API call per method, so each can be paced)
and, by overriding the hooks below, how text is rendered and which failures are harmless.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Hashable
from typing import Generic, Protocol, TypeVar

from adapters.common.pacing import ChannelPacer
from adapters.common.streaming import follow
from adapters.common.textsplit import split_message
from core.chat.reply import Sent

__all__ = [
    "EMPTY_ANSWER",
    "FIRST_PAINT_CHARS",
    "WRITE_ATTEMPTS",
    "MessageSurface",
    "StreamedReply",
    "ready_to_show",
]

log = logging.getLogger(__name__)

EMPTY_ANSWER = "…"  # platforms refuse empty messages; shown when a reply has no text at all
WRITE_ATTEMPTS = 3  # failed writes in a row (after the library's own retries) before giving up

FIRST_PAINT_CHARS = 40  # "a few dozen characters": enough to read as the start of an answer
_SENTENCE_END = re.compile(r"[.!?…:;]\s|\n")

M = TypeVar("M")  # the platform's handle of a posted message


def ready_to_show(text: str) -> bool:
    """Whether a streamed answer's first words are worth showing: a whole sentence of
    more than one word, or FIRST_PAINT_CHARS characters, never a lone word that then
    grows. (The whole answer is shown when it ends, however short.)"""
    words = text.strip()
    if len(words) >= FIRST_PAINT_CHARS:
        return True
    return len(words.split()) > 1 and _SENTENCE_END.search(text.lstrip()) is not None


class MessageSurface(Protocol[M]):
    """Where a reply's messages go. One platform call per method call."""

    pace_key: Hashable  # the channel whose write budget the calls spend
    max_length: int  # characters per message

    async def post(self, text: str, *, ephemeral: bool = False, after: M | None = None) -> M:
        """A new message. `after`: the message it continues, where the platform links
        them; `ephemeral`: seen by the user alone, where the platform posts such messages
        (others answer privately by other means)."""
        ...

    async def edit(self, message: M, text: str) -> M: ...

    async def delete(self, message: M) -> None: ...


class StreamedReply(Generic[M]):
    """The core's Reply (send, stream, status) over a surface; `upload` is the platform's."""

    def __init__(self, surface: MessageSurface[M], pacer: ChannelPacer) -> None:
        self.surface = surface
        self.pacer = pacer
        self.status_message: M | None = None
        self._status_shown = ""
        self._messages: list[M] = []  # the current answer's messages
        self._shown: list[str] = []  # what each of them shows

    # -- hooks ----------------------------------------------------------------------------

    def render(self, text: str, *, final: bool) -> list[str]:
        """The messages that show `text` (`final`: no more text will come)."""
        if not text.strip():
            return [EMPTY_ANSWER]
        return split_message(text, self.surface.max_length)

    def retryable(self, exc: Exception) -> bool:
        """Whether a failed write is tried again at the next turn (else it is raised)."""
        return False

    def status_gone(self, exc: Exception) -> bool:
        """Whether a failure to delete the status message may be ignored."""
        return False

    def message_id(self, message: M) -> str:
        return str(message)

    async def working(self) -> None:
        """Reply.working: show that the answer is on its way, where the platform can."""
        return None

    # -- Reply protocol -------------------------------------------------------------------

    async def send(self, text: str, *, ephemeral: bool = False) -> Sent:
        await self.begin(ephemeral=ephemeral)
        await self.show(lambda: text, final=True, ephemeral=ephemeral)
        return self.sent(text)

    async def stream(self, pieces: AsyncIterator[str]) -> Sent:
        await self.begin()
        painted = False

        async def grow(current: Callable[[], str]) -> None:
            nonlocal painted
            if not painted and not ready_to_show(current()):
                return  # the first paint waits for something to read
            painted = True
            await self.show(current, final=False)

        final = await follow(pieces, grow)
        await self.show(lambda: final, final=True)  # exactly the final text (or EMPTY_ANSWER)
        return self.sent(final)

    async def status(self, text: str) -> None:
        shown = self.render(text, final=True)[0]  # a status is one short line
        async with self.turn():
            if self.status_message is None:
                self.status_message = await self.surface.post(shown)
            else:
                self.status_message = await self.surface.edit(self.status_message, shown)
        self._status_shown = shown

    # -- the shown state ------------------------------------------------------------------

    def turn(self) -> contextlib.AbstractAsyncContextManager[None]:
        """The channel's pacing turn, for one write."""
        return self.pacer.turn(self.surface.pace_key)

    async def post_paced(self, text: str, *, after: M | None = None) -> M:
        async with self.turn():
            return await self.surface.post(text, after=after)

    async def begin(self, *, ephemeral: bool = False) -> None:
        """Start a new answer; a status message becomes its first message (or goes, when
        the answer must be seen by the user alone)."""
        self._messages, self._shown = [], []
        if self.status_message is None:
            return
        if ephemeral:
            await self.drop_status()
        else:
            self._messages, self._shown = [self.status_message], [self._status_shown]
            self.status_message = None

    async def drop_status(self) -> None:
        if self.status_message is None:
            return
        message, self.status_message = self.status_message, None
        async with self.turn():
            try:
                await self.surface.delete(message)
            except Exception as exc:
                if not self.status_gone(exc):
                    raise

    async def show(self, text: Callable[[], str], *, final: bool, ephemeral: bool = False) -> None:
        """Write, a paced turn at a time, until the messages show `text()`."""
        failures = 0
        while self.render(text(), final=final) != self._shown:
            async with self.turn():
                try:  # the newest text, read once the turn is ours
                    await self._write_once(self.render(text(), final=final), ephemeral)
                    failures = 0
                except Exception as exc:
                    failures += 1
                    if failures >= WRITE_ATTEMPTS or not self.retryable(exc):
                        raise
                    log.warning("write failed (%s); trying again", exc)

    async def _write_once(self, chunks: list[str], ephemeral: bool) -> None:
        """The one post, edit or delete that brings the messages closest to `chunks`."""
        for i, chunk in enumerate(chunks):
            if i == len(self._messages):
                after = self._messages[-1] if self._messages else None
                message = await self.surface.post(chunk, ephemeral=ephemeral, after=after)
                self._messages.append(message)
                self._shown.append(chunk)
                return
            if self._shown[i] != chunk:
                self._messages[i] = await self.surface.edit(self._messages[i], chunk)
                self._shown[i] = chunk
                return
        if len(self._messages) > len(chunks):  # the text got shorter (e.g. a redaction)
            await self.surface.delete(self._messages[-1])
            self._messages.pop()
            self._shown.pop()

    @property
    def shown(self) -> list[str]:
        """What each of the current answer's messages shows (rendered), in order."""
        return list(self._shown)

    @property
    def has_messages(self) -> bool:
        return bool(self._messages)

    def sent(self, text: str) -> Sent:
        return Sent(tuple(self.message_id(m) for m in self._messages), text)
