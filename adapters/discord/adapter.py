"""The DiscordAdapter: builds the discord client and its features, serves until cancelled.

See the package docstring (adapters/discord/__init__.py) for the map of modules.
"""

from __future__ import annotations

import asyncio
import logging

import discord
from discord.ext import commands

from adapters.common.failures import PlatformFatal, network_error
from adapters.common.image_requests import ImageRequestStore
from adapters.common.pacing import ChannelPacer
from adapters.common.state import AdapterState
from adapters.common.threads import ThreadStore
from adapters.discord.client import adopt_gateway, api_endpoint, build_bot
from adapters.discord.cogs.chat import ChatCog
from adapters.discord.cogs.commands import CommandsCog
from adapters.discord.cogs.feedback import FeedbackCog
from adapters.discord.cogs.imagine import imagine_command
from adapters.discord.cogs.model import ModelCog
from adapters.discord.cogs.schedule import ScheduleCog
from adapters.discord.context import DiscordContext
from adapters.discord.files import discord_fetcher
from adapters.discord.history import DiscordHistory
from adapters.discord.images import ImageButton
from adapters.discord.outbound import DiscordOutbound
from adapters.discord.regenerate import RegenerateView
from adapters.discord.settings import DiscordSettings
from adapters.discord.sync import sync_on_start
from adapters.discord.translate import PLATFORM
from core.chat.service import Muse

__all__ = ["DiscordAdapter", "DiscordSettings"]

log = logging.getLogger(__name__)
# Gateway close codes that reconnecting cannot fix: authentication failed, invalid shard,
# sharding required, invalid API version, invalid intents (4014 arrives as its own error).
FATAL_CLOSE_CODES = (4004, 4010, 4011, 4012, 4013)
FIX_TOKEN = (
    "reset the token on the Developer Portal's Bot tab and set DISCORD_TOKEN (or [discord] token)"
)


class DiscordAdapter:
    platform = PLATFORM

    def __init__(
        self, muse: Muse, settings: DiscordSettings, *, ready_timeout: float | None = None
    ) -> None:
        """`ready_timeout`: discord.py's wait for server data after connecting (tests
        shorten it; None keeps discord.py's 2 s)."""
        self.muse = muse
        self.settings = settings
        self.bot = build_bot(settings, self._setup, ready_timeout=ready_timeout)
        db = muse.memory.connection
        self.context = DiscordContext(
            muse=muse,
            settings=settings,
            bot=self.bot,
            pacer=ChannelPacer(settings.edit_interval_seconds),
            threads=ThreadStore(db, PLATFORM),
            requests=ImageRequestStore(db, PLATFORM),
            published=AdapterState(db, PLATFORM),
        )
        self.bot.muse_context = self.context  # type: ignore[attr-defined]
        self.outbound = DiscordOutbound(self.context)
        self.history = DiscordHistory(self.bot)
        self.fetcher = discord_fetcher(settings)
        self.publishing: asyncio.Task[None] | None = None  # slash commands, at start (sync.py)

    @staticmethod
    def configured(settings: DiscordSettings) -> bool:
        return settings.configured

    async def _setup(self, bot: commands.Bot) -> None:
        """After login, before the gateway: features, persistent buttons, outbound."""
        await adopt_gateway(bot, self.settings)
        await bot.add_cog(ChatCog(self.context))
        await bot.add_cog(CommandsCog(self.context))
        await bot.add_cog(FeedbackCog(self.context))
        commands_ = self.muse.commands
        if commands_.get("imagine") is not None:  # the image engine is loaded
            bot.tree.add_command(imagine_command(self.context))
        if commands_.get("schedule") is not None:  # the scheduler runs
            await bot.add_cog(ScheduleCog(self.context))
        if commands_.get("model") is not None:  # [[text.models]] offers a choice
            await bot.add_cog(ModelCog(self.context))
        bot.add_dynamic_items(ImageButton)  # buttons of pictures posted before a restart
        bot.add_view(RegenerateView())  # 🔄 under chat answers, before a restart too
        self.muse.outbounds[PLATFORM] = self.outbound
        self.muse.recall.histories[PLATFORM] = self.history  # /summarize reads through it
        self.muse.fetchers[PLATFORM] = self.fetcher
        self.publishing = asyncio.create_task(
            sync_on_start(bot, self.settings, self.context.published)
        )

    @property
    def connected(self) -> bool:
        """Logged in, the gateway's READY received, not closed: /readyz."""
        return self.bot.is_ready() and not self.bot.is_closed()

    @staticmethod
    def is_transient(exc: BaseException) -> bool:
        """Worth connecting again: the network, Discord's 5xx, a dropped gateway."""
        if isinstance(exc, discord.HTTPException):
            return exc.status >= 500 or exc.status == 429
        if isinstance(exc, discord.ConnectionClosed):
            return exc.code not in FATAL_CLOSE_CODES
        return isinstance(exc, discord.GatewayNotFound) or network_error(exc)

    async def run(self) -> None:
        """Connect and serve until cancelled; then close the connection cleanly."""
        with api_endpoint(self.settings):
            try:
                async with self.bot:
                    await self.bot.start(self.settings.token.get_secret_value().strip())
            except discord.LoginFailure as exc:
                cause = "Discord rejected the token (401 Unauthorized)"
                raise PlatformFatal(PLATFORM, cause, FIX_TOKEN) from exc
            except discord.PrivilegedIntentsRequired as exc:
                raise PlatformFatal(
                    PLATFORM,
                    "Discord closed the gateway with 4014: the Message Content intent is not "
                    "enabled for this application",
                    "enable Message Content Intent on the Developer Portal's Bot tab, or set "
                    "[discord] message_content_intent = false",
                ) from exc
            except discord.ConnectionClosed as exc:
                if exc.code in FATAL_CLOSE_CODES:
                    cause = f"Discord closed the gateway with {exc.code} ({exc.reason})"
                    raise PlatformFatal(PLATFORM, cause, FIX_TOKEN) from exc
                raise
            finally:
                if self.muse.outbounds.get(PLATFORM) is self.outbound:
                    del self.muse.outbounds[PLATFORM]
                if self.muse.recall.histories.get(PLATFORM) is self.history:
                    del self.muse.recall.histories[PLATFORM]
                if self.muse.fetchers.get(PLATFORM) is self.fetcher:
                    del self.muse.fetchers[PLATFORM]
                if self.publishing is not None:
                    self.publishing.cancel()
                await self.context.typing.close()
                log.info("discord: disconnected")
