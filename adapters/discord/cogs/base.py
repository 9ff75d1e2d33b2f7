"""What every slash command does: check the place, hand over to the core (which answers a
refusal at once, privately, and says when accepted work begins; see surfaces.py)."""

from __future__ import annotations

import discord

from adapters.discord.context import DiscordContext
from adapters.discord.translate import from_interaction
from adapters.discord.triggers import guild_allowed

NOT_HERE = "Muse is not enabled in this channel."


async def refuse_elsewhere(context: DiscordContext, interaction: discord.Interaction) -> bool:
    """Answer (and return True) where Muse does not work: DMs when [discord]
    respond_to_dms is off, servers outside [discord] allowed_guilds, and channels the
    core's policy excludes ([policy] allowed_channels). Checked before deferring, so the
    refusal is seen by the user alone from the start."""
    if interaction.guild_id is None:
        allowed = context.settings.respond_to_dms
    elif not guild_allowed(context.settings, interaction.guild_id):
        allowed = False
    else:
        allowed = context.muse.policy.allowed_here(from_interaction(interaction, ""))
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
    and error wording stay in the core; `ephemeral`: every answer is seen by the user
    alone. Not acknowledged up front: a refusal is the interaction's own private answer."""
    if await refuse_elsewhere(context, interaction):
        return
    reply, surface = context.answer(interaction, private=ephemeral)
    msg = from_interaction(interaction, text)
    async with surface.answering():
        await context.muse.run_command(name, msg, reply, terms="fields")
