"""DiscordReply: the core's Reply on Discord — split, paced, streamed by edits.

Every REST write (post, edit, delete) takes a turn of the channel's shared pacer, so a
channel sees about one write per `edit_interval_seconds` however many replies stream into
it at once. A streamed answer appears with its first words and grows by edits; each turn
makes the one write that brings the messages closest to the newest text, so a slow
channel gets fewer, bigger edits rather than a backlog. Text over 2,000 characters
continues in further messages, split by `adapters.common.textsplit` (code fences closed and
reopened). The final state is exactly `split_message(final text)`.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

import discord

from adapters.common.pacing import ChannelPacer
from adapters.common.streaming import follow
from adapters.common.textsplit import split_message
from adapters.discord.surfaces import MAX_FILES, MESSAGE_LIMIT, Surface
from core.chat.reply import Attachment, Sent

EMPTY_ANSWER = "…"  # Discord refuses empty messages; shown when a reply has no text at all


class ImagePostHook(Protocol):
    """Lets the image feature put its buttons under posted pictures and learn their ids."""

    async def view(self) -> discord.ui.View: ...

    async def posted(self, message_ids: list[int]) -> None: ...


def group_files(
    files: Sequence[Attachment], size_limit: int, per_message: int = MAX_FILES
) -> tuple[list[list[Attachment]], list[Attachment]]:
    """Pack files into messages of at most `per_message` files and `size_limit` bytes, in
    order; files larger than the limit on their own come back separately (never sent)."""
    groups: list[list[Attachment]] = []
    too_big: list[Attachment] = []
    size = 0
    for file in files:
        if len(file.data) > size_limit:
            too_big.append(file)
            continue
        if not groups or len(groups[-1]) >= per_message or size + len(file.data) > size_limit:
            groups.append([])
            size = 0
        groups[-1].append(file)
        size += len(file.data)
    return groups, too_big


def _chunks(text: str) -> list[str]:
    return split_message(text, MESSAGE_LIMIT) if text.strip() else [EMPTY_ANSWER]


class DiscordReply:
    def __init__(
        self, surface: Surface, pacer: ChannelPacer, *, images: ImagePostHook | None = None
    ) -> None:
        self.surface = surface
        self.pacer = pacer
        self.images = images
        self.status_message: discord.Message | None = None
        self._status_text = ""
        self._messages: list[discord.Message] = []  # the current answer's messages
        self._shown: list[str] = []  # what each of them shows

    # -- Reply protocol -----------------------------------------------------------------

    async def send(self, text: str, *, ephemeral: bool = False) -> Sent:
        await self._begin(ephemeral)
        await self._show(lambda: text, ephemeral)
        return self._sent(text)

    async def stream(self, pieces: AsyncIterator[str]) -> Sent:
        await self._begin(False)
        final = await follow(pieces, lambda current: self._show(current, False))
        await self._show(lambda: final, False)  # exactly the final text (or EMPTY_ANSWER)
        return self._sent(final)

    async def upload(self, files: list[Attachment], text: str) -> Sent:
        groups, too_big = group_files(files, self.surface.filesize_limit)
        caption = text
        if too_big:
            mib = self.surface.filesize_limit / (1024 * 1024)
            caption += (
                f"\n({len(too_big)} file(s) over this channel's {mib:g} MiB upload limit left out)"
            )
        if not groups:
            return await self.send(caption)
        captions = split_message(caption, MESSAGE_LIMIT) if caption.strip() else []
        view = await self.images.view() if self.images is not None else None
        await self._drop_status()
        posted: list[discord.Message] = []
        for i, group in enumerate(groups):
            content = captions[0] if i == 0 and captions else None
            async with self.pacer.turn(self.surface.pace_key):
                message = await self.surface.post(
                    content,
                    files=[discord.File(io.BytesIO(a.data), a.filename) for a in group],
                    view=view if i == 0 else None,
                    after=posted[-1] if posted else None,
                )
            posted.append(message)
        for extra in captions[1:]:
            async with self.pacer.turn(self.surface.pace_key):
                posted.append(await self.surface.post(extra, after=posted[-1]))
        if self.images is not None:
            await self.images.posted([m.id for m in posted])
        return Sent(tuple(str(m.id) for m in posted), text)

    async def status(self, text: str) -> None:
        async with self.pacer.turn(self.surface.pace_key):
            if self.status_message is None:
                self.status_message = await self.surface.post(text)
            else:
                self.status_message = await self.surface.edit(self.status_message, text)
        self._status_text = text

    # -- internals ----------------------------------------------------------------------

    async def _begin(self, ephemeral: bool) -> None:
        """Start a new answer; a status message becomes its first message (or goes, when
        the answer must be seen by the user alone)."""
        self._messages, self._shown = [], []
        if self.status_message is None:
            return
        if ephemeral:
            await self._drop_status()
        else:
            self._messages, self._shown = [self.status_message], [self._status_text]
            self.status_message = None

    async def _drop_status(self) -> None:
        if self.status_message is not None:
            message, self.status_message = self.status_message, None
            async with self.pacer.turn(self.surface.pace_key):
                with contextlib.suppress(discord.NotFound):
                    await self.surface.delete(message)

    async def _show(self, text: Callable[[], str], ephemeral: bool) -> None:
        """Write, a paced turn at a time, until the messages show `text()`."""
        while self._needs_write(_chunks(text())):
            async with self.pacer.turn(self.surface.pace_key):
                # The newest text, read once the turn is ours.
                await self._write_once(_chunks(text()), ephemeral)

    def _needs_write(self, chunks: list[str]) -> bool:
        return self._shown != chunks

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
            message = self._messages.pop()
            self._shown.pop()
            await self.surface.delete(message)

    def _sent(self, text: str) -> Sent:
        return Sent(tuple(str(m.id) for m in self._messages), text)
