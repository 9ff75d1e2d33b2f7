"""Where a reply's messages go: a channel (replying to a message) or an interaction.

A surface makes one REST call per method call, so the reply layer can pace each call.
The interaction surface answers through the interaction's webhook while its token lives
(15 minutes) and falls back to plain channel messages after that.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Sequence
from typing import Any, Protocol

import discord

from adapters.common.streamed_reply import MessageSurface

MESSAGE_LIMIT = 2000  # characters of content per message
MAX_FILES = 10  # attachments per message
# An interaction token lives 15 minutes; stop using it a little before that.
TOKEN_LIFETIME = datetime.timedelta(minutes=14, seconds=30)
# Discord's answers when an interaction token is no longer usable.
_TOKEN_GONE_CODES = {10015, 10062, 50027}  # unknown webhook, unknown interaction, bad token


class Surface(MessageSurface[discord.Message], Protocol):
    """The common streamed reply's surface, with Discord's files and buttons."""

    pace_key: int  # the channel whose write budget the calls spend
    filesize_limit: int  # most bytes of attachments in one message

    async def post(
        self,
        text: str | None,
        *,
        files: Sequence[discord.File] = (),
        view: discord.ui.View | None = None,
        ephemeral: bool = False,
        after: discord.Message | None = None,
    ) -> discord.Message: ...

    async def edit(self, message: discord.Message, text: str) -> discord.Message: ...

    async def delete(self, message: discord.Message) -> None: ...


def _message_kwargs(
    text: str | None, files: Sequence[discord.File], view: discord.ui.View | None
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if text:
        kwargs["content"] = text
    if files:
        kwargs["files"] = list(files)
    if view is not None:
        kwargs["view"] = view
    return kwargs


class ChannelSurface:
    """Posts into a channel or thread; the first post replies to `trigger` if given, later
    ones reply to the message before them so a long answer reads as one chain."""

    def __init__(
        self, channel: discord.abc.Messageable, trigger: discord.Message | None = None
    ) -> None:
        self.channel = channel
        self.trigger = trigger
        self.pace_key = int(getattr(channel, "id", 0))
        self.max_length = MESSAGE_LIMIT
        guild = getattr(channel, "guild", None)
        self.filesize_limit = (
            guild.filesize_limit
            if guild is not None
            else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
        )

    async def post(
        self,
        text: str | None,
        *,
        files: Sequence[discord.File] = (),
        view: discord.ui.View | None = None,
        ephemeral: bool = False,  # a channel message cannot be ephemeral; it is posted
        after: discord.Message | None = None,
    ) -> discord.Message:
        kwargs = _message_kwargs(text, files, view)
        reference = after or self.trigger
        if reference is not None:
            # Post even if the user deleted their message meanwhile.
            kwargs["reference"] = reference.to_reference(fail_if_not_exists=False)
            kwargs["mention_author"] = False
        return await self.channel.send(**kwargs)

    async def edit(self, message: discord.Message, text: str) -> discord.Message:
        return await message.edit(content=text)

    async def delete(self, message: discord.Message) -> None:
        await message.delete()


def token_gone(exc: discord.HTTPException) -> bool:
    return exc.status == 401 or exc.code in _TOKEN_GONE_CODES


class InteractionSurface:
    """Answers an interaction: the first post completes a deferred "thinking" message,
    later ones are followups; once the token has expired, posts go to the channel."""

    def __init__(self, interaction: discord.Interaction, fallback: ChannelSurface) -> None:
        self.interaction = interaction
        self.fallback = fallback
        self.pace_key = int(interaction.channel_id or 0)
        self.max_length = MESSAGE_LIMIT
        self.filesize_limit = interaction.filesize_limit
        self.loading = False  # a deferred "thinking" message waits for its content
        self.ephemeral_defer = False
        self._expired = False

    async def defer(self, *, ephemeral: bool = False) -> None:
        """Acknowledge within Discord's 3 seconds; the answer follows."""
        if self.interaction.response.is_done():
            return
        await self.interaction.response.defer(thinking=True, ephemeral=ephemeral)
        self.loading = True
        self.ephemeral_defer = ephemeral

    @property
    def expired(self) -> bool:
        age = discord.utils.utcnow() - self.interaction.created_at
        return self._expired or age > TOKEN_LIFETIME

    async def post(
        self,
        text: str | None,
        *,
        files: Sequence[discord.File] = (),
        view: discord.ui.View | None = None,
        ephemeral: bool = False,
        after: discord.Message | None = None,
    ) -> discord.Message:
        if not self.expired:
            try:
                return await self._post(text, files, view, ephemeral)
            except discord.HTTPException as exc:
                if not token_gone(exc):
                    raise
                self._expired = True
        for file in files:
            file.reset()  # the failed attempt may have read them
        return await self.fallback.post(text, files=files, view=view, after=after)

    async def _post(
        self,
        text: str | None,
        files: Sequence[discord.File],
        view: discord.ui.View | None,
        ephemeral: bool,
    ) -> discord.Message:
        interaction = self.interaction
        kwargs = _message_kwargs(text, files, view)
        if not interaction.response.is_done():
            await interaction.response.send_message(ephemeral=ephemeral, **kwargs)
            return await interaction.original_response()
        if self.loading and ephemeral and not self.ephemeral_defer:
            # The first followup after a public defer would be public whatever its flags:
            # drop the "thinking" message so this one can be seen by the user alone.
            await interaction.delete_original_response()
            self.loading = False
        message = await interaction.followup.send(wait=True, ephemeral=ephemeral, **kwargs)
        self.loading = False
        return message

    async def edit(self, message: discord.Message, text: str) -> discord.Message:
        if _via_token(message):
            if self.expired:
                return await self.fallback.post(text)
            try:
                return await message.edit(content=text)
            except discord.HTTPException as exc:
                if not token_gone(exc):
                    raise
                self._expired = True
                return await self.fallback.post(text)
        return await message.edit(content=text)

    async def delete(self, message: discord.Message) -> None:
        if _via_token(message) and self.expired:
            # Its token is gone: delete it as a channel message (an ephemeral one stays).
            partial = self.fallback.channel.get_partial_message(message.id)  # type: ignore[attr-defined]
            with contextlib.suppress(discord.NotFound):
                await partial.delete()
            return
        await message.delete()


def _via_token(message: discord.Message) -> bool:
    """Edited and deleted through the interaction's token rather than the channel."""
    return isinstance(message, (discord.WebhookMessage, discord.InteractionMessage))
