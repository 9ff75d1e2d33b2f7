"""Publishing Muse's slash commands to Discord (on start, or by an admin's /sync)."""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from adapters.discord.settings import DiscordSettings

log = logging.getLogger(__name__)


async def sync_global(bot: commands.Bot) -> int:
    """Every server and DMs; Discord may take a while to show changes."""
    return len(await bot.tree.sync())


async def sync_guild(bot: commands.Bot, guild_id: int) -> int:
    """One server, shown at once: the global commands copied as that server's own."""
    guild = discord.Object(guild_id)
    bot.tree.copy_global_to(guild=guild)
    return len(await bot.tree.sync(guild=guild))


async def sync_on_start(bot: commands.Bot, settings: DiscordSettings) -> None:
    """[discord] sync_commands: global, guild (allowed or joined servers) or off."""
    mode = settings.sync_commands
    if mode == "off":
        return
    await bot.wait_until_ready()
    try:
        if mode == "global":
            count = await sync_global(bot)
            log.info("discord: synced %d slash commands globally", count)
            return
        guild_ids = [int(g) for g in settings.allowed_guilds] or [g.id for g in bot.guilds]
        for guild_id in guild_ids:
            count = await sync_guild(bot, guild_id)
            log.info("discord: synced %d slash commands to server %s", count, guild_id)
    except discord.HTTPException:
        log.exception("discord: could not sync slash commands (try /sync later)")
