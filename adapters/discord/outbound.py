"""Posting without an incoming message (scheduled posts) into a channel or thread."""

from __future__ import annotations

import discord

from adapters.discord.context import DiscordContext
from adapters.discord.reply import DiscordReply
from adapters.discord.surfaces import ChannelSurface
from adapters.discord.translate import PLATFORM, channel_label
from core.chat.reply import Target
from core.errors import UserError


def _id(value: str, what: str) -> int:
    if not value.strip().isdigit():
        raise UserError(f"{what} {value!r} is not a Discord id (digits only).")
    return int(value)


class DiscordOutbound:
    platform = PLATFORM

    def __init__(self, context: DiscordContext) -> None:
        self.context = context

    async def _channel(self, target: Target) -> discord.abc.Messageable:
        bot = self.context.bot
        channel_id = _id(target.thread or target.channel, "Channel")
        channel = bot.get_channel(channel_id)
        if channel is None:
            try:
                channel = await bot.fetch_channel(channel_id)
            except (discord.NotFound, discord.Forbidden):
                raise UserError(f"Muse cannot see the Discord channel {channel_id}.") from None
        if not isinstance(channel, discord.abc.Messageable):
            raise UserError(f"Discord channel {channel_id} does not take messages.")
        guild = getattr(channel, "guild", None)
        if target.workspace and (guild is None or str(guild.id) != target.workspace):
            raise UserError(f"Discord channel {channel_id} is not in server {target.workspace}.")
        if target.thread and (
            not isinstance(channel, discord.Thread) or str(channel.parent_id) != target.channel
        ):
            raise UserError(f"{channel_id} is not a thread of channel {target.channel}.")
        if guild is not None:
            perms = channel.permissions_for(guild.me)  # type: ignore[union-attr]
            can_send = (
                perms.send_messages_in_threads
                if isinstance(channel, discord.Thread)
                else perms.send_messages
            )
            if not (perms.view_channel and can_send):
                raise UserError(f"Muse may not post in {channel_label(channel)} ({channel_id}).")
        return channel

    async def open(self, target: Target) -> DiscordReply:
        channel = await self._channel(target)
        return DiscordReply(ChannelSurface(channel), self.context.pacer)

    async def channel_name(self, target: Target) -> str:
        return channel_label(await self._channel(target)) or target.channel
