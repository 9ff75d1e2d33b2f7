"""Where a reply's messages go: a channel (replying to a message) or an interaction.

A surface makes one REST call per method call, so the reply layer can pace each call.
The interaction surface answers through the interaction's webhook while its token lives
(15 minutes) and falls back to plain channel messages after that.

An interaction is not acknowledged up front: the core checks the request first, so a
refusal is the interaction's own answer, seen by its user alone from the start, and only
accepted work (`working`) shows Discord's public "Muse is thinking…". Should the checks
take longer than DEFER_AFTER, the interaction is acknowledged anyway (Discord wants an
answer within 3 s). In a channel, `working` shows Muse typing until its first message.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

import discord

from adapters.common.streamed_reply import MessageSurface

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 2000  # characters of content per message
MAX_FILES = 10  # attachments per message
# An interaction token lives 15 minutes; stop using it a little before that.
TOKEN_LIFETIME = datetime.timedelta(minutes=14, seconds=30)
# Discord's answers when an interaction token is no longer usable.
_TOKEN_GONE_CODES = {10015, 10062, 50027}  # unknown webhook, unknown interaction, bad token
# An interaction must be answered within 3 s; checks still running after this long get it
# acknowledged anyway, so the answer may follow.
DEFER_AFTER = 2.0
# Discord shows "Muse is typing…" for 10 s, or until Muse posts; renewed this often.
TYPING_REFRESH = 8.0


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

    async def working(self) -> None:
        """The request is accepted: show that Muse is on it."""
        ...


class ChannelTyping:
    """Discord's typing indicator, per channel, while replies accepted there have shown
    nothing yet: one renewal loop per channel however many replies wait in it. A reply
    stops waiting at its first message, or when the task that accepted it ends."""

    def __init__(self) -> None:
        self._waiting: dict[int, dict[object, asyncio.Task[Any] | None]] = {}
        self._loops: dict[int, asyncio.Task[None]] = {}
        self._changed: dict[int, asyncio.Event] = {}

    def start(self, channel: discord.abc.Messageable, key: int) -> object:
        token = object()
        self._waiting.setdefault(key, {})[token] = asyncio.current_task()
        if key not in self._loops:
            self._changed[key] = asyncio.Event()
            self._loops[key] = asyncio.create_task(self._loop(channel, key))
        return token

    def stop(self, key: int, token: object) -> None:
        waiting = self._waiting.get(key)
        if waiting is not None and token in waiting:
            del waiting[token]
            self._changed[key].set()

    def _still_waiting(self, key: int) -> bool:
        waiting = self._waiting.get(key, {})
        for token, owner in list(waiting.items()):
            if owner is not None and owner.done():
                del waiting[token]
        return bool(waiting)

    async def _loop(self, channel: discord.abc.Messageable, key: int) -> None:
        changed = self._changed[key]
        try:
            while self._still_waiting(key):
                try:
                    await channel.typing()  # one indicator; lasts until Muse posts
                except discord.HTTPException as exc:
                    log.debug("discord: no typing indicator in %s: %s", key, exc)
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), TYPING_REFRESH)
                changed.clear()
        finally:
            del self._loops[key], self._changed[key]
            self._waiting.pop(key, None)

    async def close(self) -> None:
        loops = list(self._loops.values())
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)


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
        self,
        channel: discord.abc.Messageable,
        trigger: discord.Message | None = None,
        typing: ChannelTyping | None = None,
    ) -> None:
        self.channel = channel
        self.trigger = trigger
        self.typing = typing
        self._typing_token: object | None = None
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
        self.stop_typing()  # Discord ends the indicator at Muse's post
        return await self.channel.send(**kwargs)

    async def working(self) -> None:
        if self.typing is not None and self._typing_token is None:
            self._typing_token = self.typing.start(self.channel, self.pace_key)

    def stop_typing(self) -> None:
        if self.typing is not None and self._typing_token is not None:
            self.typing.stop(self.pace_key, self._typing_token)
            self._typing_token = None

    async def edit(self, message: discord.Message, text: str) -> discord.Message:
        return await message.edit(content=text)

    async def delete(self, message: discord.Message) -> None:
        await message.delete()


def token_gone(exc: discord.HTTPException) -> bool:
    return exc.status == 401 or exc.code in _TOKEN_GONE_CODES


class InteractionSurface:
    """Answers an interaction: the first post is the interaction's response (or completes
    a deferred "thinking" message), later ones are followups; once the token has expired,
    posts go to the channel. `private`: every answer is seen by the user alone."""

    def __init__(
        self, interaction: discord.Interaction, fallback: ChannelSurface, *, private: bool = False
    ) -> None:
        self.interaction = interaction
        self.fallback = fallback
        self.private = private
        self.pace_key = int(interaction.channel_id or 0)
        self.max_length = MESSAGE_LIMIT
        self.filesize_limit = interaction.filesize_limit
        self.loading = False  # a deferred "thinking" message waits for its content
        self.ephemeral_defer = False
        self._expired = False
        self._responding = asyncio.Lock()  # the one initial response: a defer or a message

    async def defer(self) -> None:
        """Acknowledge (Discord's "thinking…", public unless the answers are private);
        the answer follows."""
        async with self._responding:
            if self.interaction.response.is_done():
                return
            await self.interaction.response.defer(thinking=True, ephemeral=self.private)
            self.loading = True
            self.ephemeral_defer = self.private

    async def working(self) -> None:
        await self.defer()

    @contextlib.asynccontextmanager
    async def answering(self) -> AsyncIterator[None]:
        """While the request is checked and handled: acknowledged after DEFER_AFTER at the
        latest, if neither an answer nor `working` came first."""

        async def later() -> None:
            await asyncio.sleep(DEFER_AFTER)
            await self.defer()

        guard = asyncio.create_task(later())
        try:
            yield
        finally:
            guard.cancel()
            with contextlib.suppress(asyncio.CancelledError, discord.HTTPException):
                await guard

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
        ephemeral = ephemeral or self.private
        async with self._responding:
            if not interaction.response.is_done():
                await interaction.response.send_message(ephemeral=ephemeral, **kwargs)
                answered = True
            else:
                answered = False
        if answered:
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
