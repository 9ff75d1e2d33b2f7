"""/model (list) for everyone and /model-admin (set, reset) for admins, when [[text.models]]
names more than one text model. The typed options become the core command's text; the
core checks the name and the admin right (Discord hides /model-admin from members, a whole
command at a time, as it does /persona-admin)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from adapters.discord.cogs.base import run_core_command
from adapters.discord.cogs.commands import ADMINS, SERVERS_ONLY
from adapters.discord.context import DiscordContext

__all__ = ["ModelCog"]


class ModelCog(commands.Cog):
    model = app_commands.Group(name="model", description="Which text model answers here")
    model_admin = app_commands.Group(
        name="model-admin",
        description="Admins: choose the text model for this channel",
        default_permissions=ADMINS,
        guild_only=True,
        allowed_contexts=SERVERS_ONLY,
    )

    def __init__(self, context: DiscordContext) -> None:
        self.context = context

    @model.command(name="list", description="The text models, and which one answers here")
    async def list_(self, interaction: discord.Interaction) -> None:
        await run_core_command(self.context, interaction, "model", "list", ephemeral=True)

    @model_admin.command(name="set", description="Use this text model in this channel")
    @app_commands.describe(name="a name from /model list")
    async def set_(self, interaction: discord.Interaction, name: str) -> None:
        await run_core_command(self.context, interaction, "model", f"set {name.strip()}")

    @set_.autocomplete("name")
    async def _names(
        self, interaction: discord.Interaction, typed: str
    ) -> list[app_commands.Choice[str]]:
        models = self.context.muse.models
        names = models.names if models is not None else []
        return [app_commands.Choice(name=n, value=n) for n in names if typed.lower() in n][:25]

    @model_admin.command(name="reset", description="Go back to the default text model")
    async def reset(self, interaction: discord.Interaction) -> None:
        await run_core_command(self.context, interaction, "model", "reset")
