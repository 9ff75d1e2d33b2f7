"""Publishing Muse's slash commands to Discord (on start, or by an admin's /sync).

What is published follows the config (e.g. /imagine's ranges come from [image], /forget's
visibility from [policy] forget). On start, the commands are published only when they
differ from what this application was last given for that scope (a digest of the very
payload, kept in SQLite): a changed config is published at the next start, an unchanged
one costs no call. /sync always publishes.
"""

from __future__ import annotations

import hashlib
import json
import logging

import discord
from discord.ext import commands

from adapters.common.state import AdapterState
from adapters.discord.settings import DiscordSettings

log = logging.getLogger(__name__)


def commands_digest(bot: commands.Bot, guild: discord.Object | None = None) -> str:
    """A digest of exactly what `bot.tree.sync(guild=guild)` would send."""
    payload = [c.to_dict(bot.tree) for c in bot.tree.get_commands(guild=guild)]
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


async def publish(
    bot: commands.Bot, store: AdapterState, guild_id: int | None = None, *, force: bool = True
) -> int | None:
    """Publish the commands globally (every server and DMs; Discord may take a while to
    show changes) or to one server (at once: the global commands copied as that server's
    own). Returns how many, or None when unchanged since last time and not `force`d."""
    guild = discord.Object(guild_id) if guild_id is not None else None
    if guild is not None:
        bot.tree.copy_global_to(guild=guild)
    digest = commands_digest(bot, guild)
    key = f"commands:{bot.application_id}:{guild_id if guild_id is not None else 'global'}"
    if not force and await store.get(key) == digest:
        return None
    count = len(await bot.tree.sync(guild=guild))
    await store.set(key, digest)
    return count


async def sync_global(bot: commands.Bot, store: AdapterState) -> int:
    return await publish(bot, store) or 0


async def sync_guild(bot: commands.Bot, guild_id: int, store: AdapterState) -> int:
    return await publish(bot, store, guild_id) or 0


async def sync_on_start(bot: commands.Bot, settings: DiscordSettings, store: AdapterState) -> None:
    """[discord] sync_commands: global, guild (allowed or joined servers) or off."""
    mode = settings.sync_commands
    if mode == "off":
        return
    await bot.wait_until_ready()
    try:
        if mode == "global":
            scopes: list[int | None] = [None]
        else:
            scopes = [int(g) for g in settings.allowed_guilds] or [g.id for g in bot.guilds]
        for guild_id in scopes:
            where = "globally" if guild_id is None else f"to server {guild_id}"
            count = await publish(bot, store, guild_id, force=False)
            if count is None:
                log.info("discord: slash commands unchanged since last published %s", where)
            else:
                log.info("discord: published %d slash commands %s", count, where)
    except discord.HTTPException:
        log.exception("discord: could not publish slash commands (try /sync later)")
