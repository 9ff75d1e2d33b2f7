"""When Muse answers a Discord message.

Triggers: an @mention (of Muse or of its bot role), a reply to one of Muse's messages, any
message in a thread Muse started or was mentioned in (remembered in SQLite, so it holds
across restarts), and DMs if configured. Never its own messages; other bots' only if
configured. [discord] allowed_guilds and [policy] allowed_channels narrow where it answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import discord

from adapters.discord.settings import DiscordSettings
from adapters.discord.store import ThreadStore
from core.memory.store import Memory

# Message types people write; the rest are system notices (pins, joins, thread starts).
_CHAT_TYPES = {discord.MessageType.default, discord.MessageType.reply}


@dataclass(frozen=True)
class Decision:
    respond: bool
    reason: str  # mention, reply, thread, dm — or why not

    def __bool__(self) -> bool:
        return self.respond


def _no(reason: str) -> Decision:
    return Decision(False, reason)


def place_allowed(settings: DiscordSettings, guild_id: int | None) -> bool:
    """[discord] allowed_guilds (channels are the core's: [policy] allowed_channels)."""
    if guild_id is None:
        return True  # DMs are governed by respond_to_dms
    return not settings.allowed_guilds or str(guild_id) in settings.allowed_guilds


def mentions_bot(message: discord.Message, bot_id: int) -> bool:
    if any(user.id == bot_id for user in message.mentions):
        return True
    # Mentioning Muse's own (integration-managed) role is addressing Muse too.
    return any(
        role.tags is not None and role.tags.bot_id == bot_id for role in message.role_mentions
    )


async def _replies_to_bot(message: discord.Message, bot_id: int, memory: Memory) -> bool:
    ref = message.reference
    if ref is None or ref.message_id is None:
        return False
    target = ref.resolved if isinstance(ref.resolved, discord.Message) else ref.cached_message
    if target is not None:
        return target.author.id == bot_id
    # Not in the event nor the cache: Muse stores the ids of its own answers.
    stored = await memory.find_by_platform_id(str(ref.message_id))
    return stored is not None and stored.role == "assistant"


async def decide_to_respond(
    message: discord.Message,
    bot_id: int,
    settings: DiscordSettings,
    threads: ThreadStore,
    memory: Memory,
) -> Decision:
    author = message.author
    if author.id == bot_id:
        return _no("own message")
    if (author.bot or message.webhook_id is not None) and not settings.respond_to_bots:
        return _no("bot")
    if message.type not in _CHAT_TYPES:
        return _no("system message")
    if message.guild is None:
        return Decision(True, "dm") if settings.respond_to_dms else _no("dms off")
    if not place_allowed(settings, message.guild.id):
        return _no("not allowed here")
    channel = message.channel
    in_thread = isinstance(channel, discord.Thread)
    if mentions_bot(message, bot_id):
        if in_thread:
            await threads.add(channel.id, "mentioned")
        return Decision(True, "mention")
    if await _replies_to_bot(message, bot_id, memory):
        return Decision(True, "reply")
    if in_thread and (channel.owner_id == bot_id or await threads.contains(channel.id)):
        return Decision(True, "thread")
    return _no("not addressed")
