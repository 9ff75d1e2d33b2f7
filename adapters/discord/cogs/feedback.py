"""Reactions: 👍/👎 on Muse's messages become feedback rows (the seed of content
evaluation; /stats counts them), removing the reaction removes the row, and ❌ on your
own message cancels your pending or running requests."""

from __future__ import annotations

import logging
import re

import discord
from discord.ext import commands

from adapters.discord.context import DiscordContext
from adapters.discord.translate import PLATFORM, place
from core.chat.events import Message, conversation_key

log = logging.getLogger(__name__)

FEEDBACK = {"👍": 1, "👎": -1}
CANCEL = {"❌", "✖", "🛑"}
_MODIFIERS = re.compile("[\U0001f3fb-\U0001f3ff\ufe0f]")  # skin tones, emoji presentation


def emoji_name(emoji: discord.PartialEmoji) -> str:
    """A unicode emoji without skin tone or presentation marks ("👍🏽" -> "👍")."""
    if emoji.id is not None:
        return ""  # custom server emoji are not feedback
    return _MODIFIERS.sub("", emoji.name or "")


class FeedbackCog(commands.Cog):
    def __init__(self, context: DiscordContext) -> None:
        self.context = context

    def _conversation(self, payload: discord.RawReactionActionEvent) -> str:
        channel = self.context.bot.get_channel(payload.channel_id)
        if channel is not None:
            workspace, channel_id, thread = place(channel)
        else:
            workspace = str(payload.guild_id) if payload.guild_id else None
            channel_id, thread = str(payload.channel_id), None
        return conversation_key(PLATFORM, workspace, channel_id, thread)

    def _author_id(self, payload: discord.RawReactionActionEvent) -> int | None:
        if payload.message_author_id is not None:
            return payload.message_author_id
        cached = discord.utils.get(self.context.bot.cached_messages, id=payload.message_id)
        return cached.author.id if cached is not None else None

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        context = self.context
        if payload.user_id == context.bot_id or (payload.member and payload.member.bot):
            return
        name = emoji_name(payload.emoji)
        author_id = self._author_id(payload)
        if name in CANCEL and author_id == payload.user_id:
            who = Message(
                platform=PLATFORM,
                channel=str(payload.channel_id),
                author_id=str(payload.user_id),
                text="",
            )
            count = context.muse.cancel_requests(who)
            log.info("discord: ❌ from %s cancelled %d request(s)", payload.user_id, count)
            return
        value = FEEDBACK.get(name)
        if value is None or author_id != context.bot_id:
            return
        await context.muse.memory.add_feedback(
            PLATFORM,
            str(payload.message_id),
            str(payload.user_id),
            value,
            self._conversation(payload),
        )

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        value = FEEDBACK.get(emoji_name(payload.emoji))
        if value is None or payload.user_id == self.context.bot_id:
            return
        # Removal events do not say whose message it was; a missing row is harmless.
        await self.context.muse.memory.remove_feedback(
            PLATFORM, str(payload.message_id), str(payload.user_id), value
        )
