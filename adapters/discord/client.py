"""The discord.py bot Muse runs: intents, (auto-)sharding, and which API it talks to."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import discord
import yarl
from discord.ext import commands
from discord.gateway import DiscordWebSocket

from adapters.common.observe import api_error_trace
from adapters.discord.settings import DISCORD_API_URL, DiscordSettings

log = logging.getLogger(__name__)

Setup = Callable[[commands.Bot], Awaitable[None]]


class _MuseBotBase:
    """What both bot classes add: a start-up hook and no prefix commands."""

    muse_context: Any = None  # the adapter's DiscordContext, for persistent buttons
    _muse_setup: Setup | None = None

    async def setup_hook(self) -> None:
        if self._muse_setup is not None:
            await self._muse_setup(self)  # type: ignore[arg-type]

    async def on_message(self, message: discord.Message) -> None:
        # commands.Bot would look for prefix commands here; Muse's chat cog answers instead.
        return None


class MuseBot(_MuseBotBase, commands.Bot):
    pass


class ShardedMuseBot(_MuseBotBase, commands.AutoShardedBot):
    pass


# The gateway intents Muse asks for, and why: only these (each intent is events Discord
# sends and Muse would read and drop). The README's Discord section lists the same.
INTENTS = {
    "guilds": "servers, channels, threads and roles: where a message or command came "
    "from, who is an admin, the upload limit",
    "guild_messages": "messages in servers (mentions, replies to Muse, its threads)",
    "dm_messages": "direct messages",
    "guild_reactions": "👍/👎 feedback and ❌ to cancel, in servers",
    "dm_reactions": "the same in direct messages",
}
MESSAGE_CONTENT = (
    "message_content",
    "privileged, optional ([discord] message_content_intent): the text of messages that "
    "do not mention Muse, i.e. replies to it and messages in its threads",
)


def intents_for(settings: DiscordSettings) -> discord.Intents:
    """The INTENTS, and Message Content if configured.

    Without the (privileged) Message Content intent Discord still sends the content of
    DMs and of messages that mention Muse, so mentions keep working.
    """
    intents = discord.Intents.none()
    for name in INTENTS:
        setattr(intents, name, True)
    intents.message_content = settings.message_content_intent
    return intents


def build_bot(
    settings: DiscordSettings, setup: Setup, *, ready_timeout: float | None = None
) -> commands.Bot:
    # Muse never joins voice: discord.py's "PyNaCl / davey is not installed" warnings at
    # every start say nothing to its operators.
    for flag in ("warn_nacl", "warn_dave"):
        if hasattr(discord.VoiceClient, flag):
            setattr(discord.VoiceClient, flag, False)
    options: dict[str, Any] = {
        "command_prefix": commands.when_mentioned,  # required by commands.Bot; never used
        "help_command": None,
        "intents": intents_for(settings),
        # Model output must never ping @everyone, roles or people.
        "allowed_mentions": discord.AllowedMentions.none(),
        "http_trace": api_error_trace("discord"),  # failed REST calls, for the metrics
    }
    if ready_timeout is not None:
        options["guild_ready_timeout"] = ready_timeout
    bot: commands.Bot
    if settings.sharded:
        bot = ShardedMuseBot(shard_count=settings.shard_count or None, **options)
    else:
        bot = MuseBot(**options)
    bot._muse_setup = setup  # type: ignore[attr-defined]
    return bot


def uses_custom_api(settings: DiscordSettings) -> bool:
    return settings.api_url.rstrip("/") != DISCORD_API_URL


@contextlib.contextmanager
def api_endpoint(settings: DiscordSettings) -> Iterator[None]:
    """Send discord.py's REST calls to `[discord] api_url` while the bot runs.

    discord.py keeps the API base and the default gateway in class attributes, so this is
    process-wide: one Discord bot per process (which is how Muse runs).
    """
    if not uses_custom_api(settings):
        yield
        return
    old_base, old_gateway = discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = settings.api_url.rstrip("/")
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


async def adopt_gateway(bot: commands.Bot, settings: DiscordSettings) -> None:
    """With a custom API, connect to the gateway that API names (`GET /gateway`).

    A plain Client otherwise dials Discord's default gateway directly; the sharded client
    asks `/gateway/bot` itself, and reconnects after an invalid session use the default.
    """
    if not uses_custom_api(settings):
        return
    data = await bot.http.request(discord.http.Route("GET", "/gateway"))
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(data["url"])
    log.info("discord: API %s, gateway %s", settings.api_url, data["url"])
