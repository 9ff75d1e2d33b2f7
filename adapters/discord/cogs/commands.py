"""Slash commands shared with every adapter — /forget, /persona, /stats, /retry, /cancel,
/help —
and the admin's /sync. Each maps its typed options to the core command's argument text.

Who sees what (Discord hides a command from members without its
`default_member_permissions`, a whole command at a time, and the core still checks on
use): /sync and /persona-admin (set, reset) need Manage Server and are not offered in
DMs; /forget needs it too when [policy] forget = "admins" (in DMs it is offered to all,
as a DM's memory is its member's own); the rest are everyone's.
"""

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

# What Discord counts as administering a server, as translate.is_platform_admin does.
ADMINS = discord.Permissions(manage_guild=True)
# Offered in servers only (`contexts`; `guild_only` also sets the older `dm_permission`).
SERVERS_ONLY = app_commands.AppCommandContext(guild=True)


class CommandsCog(commands.Cog):
    persona = app_commands.Group(name="persona", description="This channel's system prompt")
    # Discord hides whole commands, not subcommands: the admins' part is its own command.
    persona_admin = app_commands.Group(
        name="persona-admin",
        description="Admins: change this channel's system prompt",
        default_permissions=ADMINS,
        guild_only=True,
        allowed_contexts=SERVERS_ONLY,
    )

    def __init__(self, context: DiscordContext) -> None:
        self.context = context
        if context.muse.policy.settings.forget == "admins":
            self.forget.default_permissions = ADMINS

    @app_commands.command(
        name="forget", description="Clear Muse's memory of this channel or thread"
    )
    async def forget(self, interaction: discord.Interaction) -> None:
        await run_core_command(self.context, interaction, "forget", ephemeral=True)

    @persona_admin.command(name="set", description="Set this channel's system prompt")
    @app_commands.describe(
        prompt="How Muse should behave here",
        adapter="A LoRA persona of [[text.adapters]] to answer with (optional)",
    )
    async def persona_set(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, PERSONA_MAX_CHARS],
        adapter: str | None = None,
    ) -> None:
        flag = f"--adapter {adapter} " if adapter else ""
        await run_core_command(self.context, interaction, "persona", f"set {flag}{prompt}")

    @persona.command(name="show", description="Show this channel's system prompt")
    async def persona_show(self, interaction: discord.Interaction) -> None:
        await run_core_command(self.context, interaction, "persona", "show", ephemeral=True)

    @persona_admin.command(name="reset", description="Go back to the default system prompt")
    async def persona_reset(self, interaction: discord.Interaction) -> None:
        await run_core_command(self.context, interaction, "persona", "reset")

    @app_commands.command(name="stats", description="👍/👎 feedback counts for this server")
    async def stats(self, interaction: discord.Interaction) -> None:
        await run_core_command(self.context, interaction, "stats", ephemeral=True)

    @app_commands.command(name="retry", description="🔄 A new answer to Muse's latest reply here")
    async def retry(self, interaction: discord.Interaction) -> None:
        await run_core_command(self.context, interaction, "retry")

    @app_commands.command(name="cancel", description="Cancel your pending or running requests")
    async def cancel(self, interaction: discord.Interaction) -> None:
        await run_core_command(self.context, interaction, "cancel", ephemeral=True)

    @app_commands.command(name="help", description="What Muse can do")
    async def help(self, interaction: discord.Interaction) -> None:
        await run_core_command(self.context, interaction, "help", ephemeral=True)

    @app_commands.command(name="sync", description="Admins: publish Muse's slash commands again")
    @app_commands.describe(scope="here: this server, at once; global: every server, slowly")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def sync(
        self, interaction: discord.Interaction, scope: Literal["here", "global"] = "here"
    ) -> None:
        if await refuse_elsewhere(self.context, interaction):
            return
        try:  # checked before acknowledging: a refusal is seen by its user alone
            self.context.muse.policy.require_admin(from_interaction(interaction, ""), "/sync")
        except PermissionDenied as exc:
            await interaction.response.send_message(str(exc), ephemeral=True)
            return
        reply, surface = self.context.answer(interaction, private=True)
        await surface.defer()  # publishing may take a while
        bot = self.context.bot
        store = self.context.published
        if scope == "global" or interaction.guild_id is None:
            count, where = await sync_global(bot, store), "for every server"
        else:
            count = await sync_guild(bot, interaction.guild_id, store)
            where = "for this server"
        await reply.send(f"Published {count} slash commands {where}.", ephemeral=True)
