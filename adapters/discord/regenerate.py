"""🔄 Regenerate under Muse's chat answers on Discord (core.chat.regenerate says what it does).

The button goes on the last message of an answer the core kept as a generation (so not on
refusals or errors), by one paced edit once the answer is complete. Its custom id is fixed
(`muse:regen`): the message it sits on names the answer, so one persistent view
(`bot.add_view`, at start-up) serves every button, after restarts too. A click answers like
a slash command: refusals privately, the new answer publicly under the clicked one.
"""

from __future__ import annotations

import logging

import discord

from adapters.discord.cogs.base import refuse_elsewhere
from adapters.discord.context import DiscordContext, context_of
from adapters.discord.translate import from_interaction
from core.chat.reply import Sent

__all__ = ["CUSTOM_ID", "RegenerateView", "offer"]

log = logging.getLogger(__name__)
CUSTOM_ID = "muse:regen"


class RegenerateView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(
        label="Regenerate", emoji="🔄", style=discord.ButtonStyle.secondary, custom_id=CUSTOM_ID
    )
    async def regenerate(
        self,
        interaction: discord.Interaction,
        button: discord.ui.Button,  # type: ignore[type-arg]
    ) -> None:
        await on_click(interaction)


async def offer(
    context: DiscordContext, channel: discord.abc.Messageable, sent: Sent | None
) -> None:
    """Put the button under the last message of `sent` if it is a kept answer."""
    if sent is None or not sent.message_ids:
        return
    last = sent.message_ids[-1]
    if await context.muse.generations.by_reply(last) is None:
        return  # a refusal, an error, a notice: nothing to regenerate
    partial = getattr(channel, "get_partial_message", None)
    if partial is None:
        return
    try:
        async with context.pacer.turn(getattr(channel, "id", 0)):
            await partial(int(last)).edit(view=RegenerateView())
    except discord.HTTPException as exc:  # the answer stands without its button
        log.warning("discord: could not add the regenerate button to %s: %s", last, exc)


async def on_click(interaction: discord.Interaction) -> None:
    context = context_of(interaction.client)
    if await refuse_elsewhere(context, interaction):
        return
    reply, surface = context.answer(interaction)
    msg = from_interaction(interaction, "")
    message_id = str(interaction.message.id) if interaction.message is not None else None
    async with surface.answering():
        await context.muse.regenerate(msg, reply, message_id)
