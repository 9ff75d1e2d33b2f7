"""Reactions, translated for the core (core.chat.feedback says what they mean: 👍/👎 on
Muse's answers are feedback, ❌ on your own message cancels your requests)."""

from __future__ import annotations

import re

import discord
from discord.ext import commands

from adapters.discord.context import DiscordContext
from adapters.discord.translate import PLATFORM, place
from core.chat.feedback import Reaction, reaction_added, reaction_removed

_MODIFIERS = re.compile("[\U0001f3fb-\U0001f3ff\ufe0f]")  # skin tones, emoji presentation


def emoji_name(emoji: discord.PartialEmoji) -> str:
    """A unicode emoji without skin tone or presentation marks ("👍🏽" -> "👍")."""
    if emoji.id is not None:
        return ""  # custom server emoji mean nothing to the core
    return _MODIFIERS.sub("", emoji.name or "")


class FeedbackCog(commands.Cog):
    def __init__(self, context: DiscordContext) -> None:
        self.context = context

    def _reaction(self, payload: discord.RawReactionActionEvent) -> Reaction:
        bot_id = self.context.bot_id
        channel = self.context.bot.get_channel(payload.channel_id)
        if channel is not None:
            workspace, channel_id, thread = place(channel)
        else:
            workspace = str(payload.guild_id) if payload.guild_id else None
            channel_id, thread = str(payload.channel_id), None
        author = self._author_id(payload)
        return Reaction(
            platform=PLATFORM,
            message_id=str(payload.message_id),
            user_id=str(payload.user_id),
            emoji=emoji_name(payload.emoji),
            workspace=workspace,
            channel=channel_id,
            thread=thread,
            message_author=str(author) if author is not None else None,
            by_muse=author == bot_id if author is not None else None,
            by_bot=payload.user_id == bot_id or bool(payload.member and payload.member.bot),
        )

    def _author_id(self, payload: discord.RawReactionActionEvent) -> int | None:
        if payload.message_author_id is not None:
            return payload.message_author_id
        cached = discord.utils.get(self.context.bot.cached_messages, id=payload.message_id)
        return cached.author.id if cached is not None else None

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await reaction_added(self.context.muse, self._reaction(payload))

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await reaction_removed(self.context.muse, self._reaction(payload))
