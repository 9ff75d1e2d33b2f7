"""DiscordReply: the core's Reply on Discord — split, paced, streamed by edits.

Streaming, pacing (`edit_interval_seconds` per channel), continuing past 2,000 characters
and the status message are `adapters.common.streamed_reply`'s; this adds Discord's
uploads (files grouped by count and the channel's size limit, buttons under pictures).
The final state is exactly `split_message(final text)`; no message pings anyone (the
client allows no mentions).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Protocol

import discord

from adapters.common.pacing import ChannelPacer
from adapters.common.streamed_reply import StreamedReply
from adapters.common.textsplit import split_message
from adapters.discord.surfaces import MAX_FILES, Surface
from core.chat.reply import Attachment, Sent


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


class DiscordReply(StreamedReply[discord.Message]):
    def __init__(
        self, surface: Surface, pacer: ChannelPacer, *, images: ImagePostHook | None = None
    ) -> None:
        super().__init__(surface, pacer)
        self.surface: Surface = surface
        self.images = images

    def status_gone(self, exc: Exception) -> bool:
        return isinstance(exc, discord.NotFound)

    async def working(self) -> None:
        await self.surface.working()  # "thinking…" for an interaction, typing in a channel

    def message_id(self, message: discord.Message) -> str:
        return str(message.id)

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
        captions = split_message(caption, self.surface.max_length) if caption.strip() else []
        view = await self.images.view() if self.images is not None else None
        await self.drop_status()
        posted: list[discord.Message] = []
        for i, group in enumerate(groups):
            content = captions[0] if i == 0 and captions else None
            async with self.turn():
                message = await self.surface.post(
                    content,
                    files=[discord.File(io.BytesIO(a.data), a.filename) for a in group],
                    view=view if i == 0 else None,
                    after=posted[-1] if posted else None,
                )
            posted.append(message)
        for extra in captions[1:]:
            posted.append(await self.post_paced(extra, after=posted[-1]))
        if self.images is not None:
            await self.images.posted([m.id for m in posted])
        return Sent(tuple(self.message_id(m) for m in posted), text)
