"""What the Discord cogs, views and outbound share: the core, settings, pacer, stores."""

from __future__ import annotations

from dataclasses import dataclass, field

import discord
from discord.ext import commands

from adapters.common.image_requests import ImageRequestStore
from adapters.common.pacing import ChannelPacer
from adapters.common.state import AdapterState
from adapters.common.threads import ThreadStore
from adapters.discord.reply import DiscordReply, ImagePostHook
from adapters.discord.settings import DiscordSettings
from adapters.discord.surfaces import ChannelSurface, ChannelTyping, InteractionSurface
from core.chat.service import Muse


@dataclass
class DiscordContext:
    muse: Muse
    settings: DiscordSettings
    bot: commands.Bot
    pacer: ChannelPacer
    threads: ThreadStore
    requests: ImageRequestStore
    published: AdapterState  # what Discord was last given as slash commands (sync.py)
    typing: ChannelTyping = field(default_factory=ChannelTyping)

    @property
    def bot_id(self) -> int:
        assert self.bot.user is not None, "used before login"
        return self.bot.user.id

    def reply_to(self, message: discord.Message) -> DiscordReply:
        """A reply to `message` in its channel or thread."""
        surface = ChannelSurface(message.channel, message, self.typing)
        return DiscordReply(surface, self.pacer)

    def answer(
        self,
        interaction: discord.Interaction,
        *,
        images: ImagePostHook | None = None,
        private: bool = False,
    ) -> tuple[DiscordReply, InteractionSurface]:
        """A reply to an interaction; run the work inside `surface.answering()`, which
        acknowledges the interaction in time if no answer came first. `private`: every
        answer is seen by the user alone."""
        channel = interaction.channel
        if channel is None or not isinstance(channel, discord.abc.Messageable):
            channel = self.bot.get_partial_messageable(
                interaction.channel_id or 0, guild_id=interaction.guild_id
            )
        trigger = interaction.message  # a button press answers under its message
        surface = InteractionSurface(interaction, ChannelSurface(channel, trigger), private=private)
        return DiscordReply(surface, self.pacer, images=images), surface


def context_of(client: discord.Client) -> DiscordContext:
    """The context of a bot built by this adapter (for persistent buttons)."""
    context = getattr(client, "muse_context", None)
    if not isinstance(context, DiscordContext):
        raise RuntimeError("this discord client was not started by Muse's Discord adapter")
    return context
