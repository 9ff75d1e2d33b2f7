"""discord.py objects -> the core's Message.

Memory is per channel, and per thread inside threads: a thread's messages carry the
parent channel as `channel` and the thread id as `thread`. The workspace is the guild.
"""

from __future__ import annotations

import re

import discord

from core.chat.events import IncomingFile, Message

PLATFORM = "discord"
_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_CHANNEL_MENTION = re.compile(r"<#(\d+)>")


def place(channel: object) -> tuple[str | None, str, str | None]:
    """(workspace, channel, thread) ids of a channel or thread."""
    guild = getattr(channel, "guild", None)
    workspace = str(guild.id) if guild is not None else None
    channel_id = str(getattr(channel, "id", ""))
    if isinstance(channel, discord.Thread):
        return workspace, str(channel.parent_id), channel_id
    return workspace, channel_id, None


def is_platform_admin(member: discord.abc.User, permissions: discord.Permissions | None) -> bool:
    """Discord says the member administers the server: Manage Server or Administrator."""
    if permissions is None:
        if not isinstance(member, discord.Member):
            return False
        permissions = member.guild_permissions
    return permissions.administrator or permissions.manage_guild


def role_ids(user: discord.abc.User) -> tuple[str, ...]:
    if not isinstance(user, discord.Member):
        return ()
    return tuple(str(r.id) for r in user.roles if not r.is_default())


def channel_label(channel: object) -> str:
    if isinstance(channel, (discord.DMChannel, discord.GroupChannel)):
        return "direct message"
    name = getattr(channel, "name", None)
    return f"#{name}" if name else ""


def clean_text(message: discord.Message, bot_id: int) -> str:
    """The message as the model should read it: Muse's own mention removed, other
    mentions shown as names rather than ids."""
    users = {m.id: m.display_name for m in message.mentions}

    def user(match: re.Match[str]) -> str:
        user_id = int(match[1])
        if user_id == bot_id:
            return ""
        return f"@{users[user_id]}" if user_id in users else match[0]

    def role(match: re.Match[str]) -> str:
        found = message.guild.get_role(int(match[1])) if message.guild else None
        return f"@{found.name}" if found else match[0]

    def channel(match: re.Match[str]) -> str:
        found = message.guild.get_channel_or_thread(int(match[1])) if message.guild else None
        return f"#{found.name}" if found else match[0]

    text = _USER_MENTION.sub(user, message.content)
    text = _ROLE_MENTION.sub(role, text)
    text = _CHANNEL_MENTION.sub(channel, text)
    return text.strip()


def files_of_attachment(a: discord.Attachment) -> IncomingFile:
    """An attachment as a reference (CDN URL, declared size and type)."""
    return IncomingFile(a.filename, a.url, a.size, a.content_type or "")


def files_of(message: discord.Message) -> tuple[IncomingFile, ...]:
    return tuple(files_of_attachment(a) for a in message.attachments)


def from_message(message: discord.Message, bot_id: int, *, addressed: bool = True) -> Message:
    workspace, channel, thread = place(message.channel)
    author = message.author
    return Message(
        platform=PLATFORM,
        channel=channel,
        author_id=str(author.id),
        text=clean_text(message, bot_id),
        workspace=workspace,
        thread=thread,
        author_name=author.display_name,
        addressed=addressed,
        message_id=str(message.id),
        is_dm=message.guild is None,
        author_is_bot=author.bot or message.webhook_id is not None,
        roles=role_ids(author),
        platform_admin=is_platform_admin(author, None),
        channel_name=channel_label(message.channel),
        attachments=files_of(message),
    )


def from_interaction(interaction: discord.Interaction, text: str) -> Message:
    """A slash command or button press as a message whose text is the argument text."""
    channel = interaction.channel
    if channel is not None:
        workspace, channel_id, thread = place(channel)
        if workspace is None and interaction.guild_id is not None:
            workspace = str(interaction.guild_id)
    else:
        workspace = str(interaction.guild_id) if interaction.guild_id else None
        channel_id, thread = str(interaction.channel_id or ""), None
    user = interaction.user
    # Prefer the cached guild's view of roles; the interaction's own permissions (which
    # Discord computes for this channel) cover servers whose data is not cached.
    cached = isinstance(user, discord.Member) and interaction.guild is not None
    return Message(
        platform=PLATFORM,
        channel=channel_id,
        author_id=str(user.id),
        text=text,
        workspace=workspace,
        thread=thread,
        author_name=user.display_name,
        message_id=str(interaction.id),
        is_dm=interaction.guild_id is None,
        author_is_bot=user.bot,
        roles=role_ids(user),
        platform_admin=is_platform_admin(user, None if cached else interaction.permissions),
        channel_name=channel_label(channel),
    )
