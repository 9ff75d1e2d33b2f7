"""Slash commands shared with every adapter — /forget, /persona, /stats, /cancel, /help —
and the admin's /sync. Each maps its typed options to the core command's argument text."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from adapters.discord.cogs.base import refuse_elsewhere, run_core_command
from adapters.discord.context import DiscordContext
from adapters.discord.sync import sync_global, sync_guild
from adapters.discord.translate import from_interaction
from core.commands.chat import PERSONA_MAX_CHARS  # the form takes what the core accepts
from core.errors import PermissionDenied


class CommandsCog(commands.Cog):
    persona = app_commands.Group(
        name="persona", description="This channel's system prompt (set and reset: admins)"
    )

    def __init__(self, context: DiscordContext) -> None:
        self.context = context

    @app_commands.command(
        name="forget", description="Clear Muse's memory of this channel or thread"
    )
    async def forget(self, interaction: discord.Interaction) -> None:
        await run_core_command(self.context, interaction, "forget")

    @persona.command(name="set", description="Admins: set this channel's system prompt")
    @app_commands.describe(prompt="How Muse should behave here")
    async def persona_set(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, PERSONA_MAX_CHARS],
    ) -> None:
        await run_core_command(self.context, interaction, "persona", f"set {prompt}")

    @persona.command(name="show", description="Show this channel's system prompt")
    async def persona_show(self, interaction: discord.Interaction) -> None:
        await run_core_command(self.context, interaction, "persona", "show", ephemeral=True)

    @persona.command(name="reset", description="Admins: go back to the default system prompt")
    async def persona_reset(self, interaction: discord.Interaction) -> None:
        await run_core_command(self.context, interaction, "persona", "reset")

    @app_commands.command(name="stats", description="👍/👎 feedback counts for this server")
    async def stats(self, interaction: discord.Interaction) -> None:
        await run_core_command(self.context, interaction, "stats", ephemeral=True)

    @app_commands.command(name="cancel", description="Cancel your pending or running requests")
    async def cancel(self, interaction: discord.Interaction) -> None:
        await run_core_command(self.context, interaction, "cancel", ephemeral=True)

    @app_commands.command(name="help", description="What Muse can do")
    async def help(self, interaction: discord.Interaction) -> None:
        await run_core_command(self.context, interaction, "help", ephemeral=True)

    @app_commands.command(name="sync", description="Admins: publish Muse's slash commands again")
    @app_commands.describe(scope="here: this server, at once; global: every server, slowly")
    @app_commands.default_permissions(manage_guild=True)
    async def sync(
        self, interaction: discord.Interaction, scope: Literal["here", "global"] = "here"
    ) -> None:
        if await refuse_elsewhere(self.context, interaction):
            return
        reply, surface = self.context.answer(interaction)
        await surface.defer(ephemeral=True)
        try:
            self.context.muse.policy.require_admin(from_interaction(interaction, ""), "/sync")
        except PermissionDenied as exc:
            await reply.send(str(exc), ephemeral=True)
            return
        bot = self.context.bot
        if scope == "global" or interaction.guild_id is None:
            count, where = await sync_global(bot), "for every server"
        else:
            count, where = await sync_guild(bot, interaction.guild_id), "for this server"
        await reply.send(f"Published {count} slash commands {where}.", ephemeral=True)
