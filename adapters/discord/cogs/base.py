"""What every slash command does: check the place, defer, hand over to the core."""

from __future__ import annotations

import discord

from adapters.discord.context import DiscordContext
from adapters.discord.translate import from_interaction
from adapters.discord.triggers import place_allowed

NOT_HERE = "Muse is not enabled in this channel."


async def refuse_elsewhere(context: DiscordContext, interaction: discord.Interaction) -> bool:
    """Answer (and return True) when [discord] allowed_guilds excludes this place."""
    if interaction.guild_id is None:
        allowed = context.settings.respond_to_dms
    else:
        allowed = place_allowed(context.settings, interaction.guild_id)
    if not allowed:
        await interaction.response.send_message(NOT_HERE, ephemeral=True)
    return not allowed


async def run_core_command(
    context: DiscordContext,
    interaction: discord.Interaction,
    name: str,
    text: str = "",
    *,
    ephemeral: bool = False,
) -> None:
    """Run the core's `/name` with `text` as its argument text, so validation, permissions
    and error wording stay in the core; `ephemeral` answers are seen by the user alone."""
    if await refuse_elsewhere(context, interaction):
        return
    reply, surface = context.answer(interaction)
    await surface.defer(ephemeral=ephemeral)
    await context.muse.run_command(name, from_interaction(interaction, text), reply)
