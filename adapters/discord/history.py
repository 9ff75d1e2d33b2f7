"""Discord's side of /summarize: a channel's or thread's past messages through discord.py's
`history()` (GET /channels/{id}/messages, newest first, paged by `before` 100 at a time),
read back only as far as the asked window. Needs View Channel and Read Message History;
other people's text also needs the Message Content intent."""

from __future__ import annotations

import datetime

import discord
from discord.ext import commands

from adapters.discord.translate import clean_text
from core.chat.events import Message
from core.chat.history import HistoryDenied, PastMessage

__all__ = ["NO_ACCESS", "DiscordHistory"]

NO_ACCESS = (
    "I may not read this channel's history: I need the View Channel and Read Message "
    "History permissions here."
)
_CHAT_TYPES = {discord.MessageType.default, discord.MessageType.reply}


class DiscordHistory:
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    async def read(
        self, place: Message, *, thread: str | None, since: float | None, limit: int
    ) -> list[PastMessage]:
        channel_id = int(thread or place.channel)
        after = None if since is None else datetime.datetime.fromtimestamp(since, datetime.UTC)
        found: list[discord.Message] = []
        try:
            channel = self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)
            if not isinstance(channel, discord.abc.Messageable):
                raise HistoryDenied("That is not a channel with messages I can read.")
            async for message in channel.history(limit=limit):
                if after is not None and message.created_at < after:
                    break  # newest first: everything further is older still
                found.append(message)
        except (discord.Forbidden, discord.NotFound) as exc:
            raise HistoryDenied(NO_ACCESS) from exc
        me = self.bot.user.id if self.bot.user else 0
        return [_past(m, me) for m in reversed(found) if m.type in _CHAT_TYPES]


def _past(message: discord.Message, me: int) -> PastMessage:
    name = "Muse" if message.author.id == me else message.author.display_name
    at = message.created_at.timestamp()
    return PastMessage(name, clean_text(message, me), at, message.author.bot)
