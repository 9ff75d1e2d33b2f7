"""/imagine on Discord and the buttons under its pictures.

The slash command's typed options go to the core as an `ImagineOptions`
(`run_imagine`), so validation, fair use, moderation and error wording stay in the core,
as do the buttons' meaning (core.commands.imagine: `reroll`, `variations`, `may_delete`).
The seed is chosen before the request is stored, so the stored request (for the buttons)
knows exactly what was made.

- 🎲 reroll: the same options with a new random seed.
- 🔁 variations: more pictures of the same prompt and options, the seeds after these,
  starting from the first shown picture (image-to-image).
- 🗑 delete: removes the pictures; only whoever asked for them, or an admin.

Each button's custom id names the action and a stored request id
(`muse:img:<action>:<request id>`), and the request's options live in SQLite
(adapters.common.image_requests, as Slack's buttons do), so buttons
keep working after a restart. The buttons are discord.py DynamicItems: one registered
template (`bot.add_dynamic_items`, at start-up) matches every such id, which a fixed-id
`bot.add_view` cannot do for per-request ids. They are sent in a `View(timeout=None)`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re

import discord

from adapters.discord.context import DiscordContext, context_of
from adapters.discord.translate import from_interaction
from core.chat.events import IncomingFile, Message
from core.commands.imagine import (
    DELETE_REFUSED,
    REQUEST_GONE,
    may_delete,
    reroll,
    run_imagine,
    variations,
)
from core.image.options import ImagineOptions, with_seed

log = logging.getLogger(__name__)


# -- the buttons ---------------------------------------------------------------------------

ACTIONS = {
    "reroll": ("🎲", "Reroll", "same options, a new seed"),
    "vary": ("🔁", "Variations", "more pictures of the prompt, the seeds after these"),
    "delete": ("🗑️", "Delete", "remove these pictures (whoever asked, or an admin)"),
}
TEMPLATE = re.compile(r"muse:img:(?P<action>reroll|vary|delete):(?P<request>[0-9]+)")


def custom_id(action: str, request_id: int) -> str:
    return f"muse:img:{action}:{request_id}"


class ImageButton(discord.ui.DynamicItem[discord.ui.Button], template=TEMPLATE):  # type: ignore[type-arg]
    def __init__(self, action: str, request_id: int) -> None:
        emoji, label, _ = ACTIONS[action]
        style = discord.ButtonStyle.danger if action == "delete" else discord.ButtonStyle.secondary
        super().__init__(
            discord.ui.Button(
                label=label, emoji=emoji, style=style, custom_id=custom_id(action, request_id)
            )
        )
        self.action = action
        self.request_id = request_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item,  # type: ignore[type-arg]
        match: re.Match[str],
        /,
    ) -> ImageButton:
        return cls(match["action"], int(match["request"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await on_button(interaction, self.action, self.request_id)


class ImageButtons(discord.ui.View):
    """The row of buttons under one request's pictures."""

    def __init__(self, request_id: int) -> None:
        super().__init__(timeout=None)
        for action in ACTIONS:
            self.add_item(ImageButton(action, request_id))


class RequestButtons:
    """Stores the request once pictures are about to be posted, and the buttons with it."""

    def __init__(self, context: DiscordContext, msg: Message, options: ImagineOptions) -> None:
        self.context = context
        self.msg = msg
        self.options = options
        self.request_id: int | None = None

    async def view(self) -> discord.ui.View:
        m = self.msg
        self.request_id = await self.context.requests.add(
            m.author_id, m.workspace, m.channel, m.thread, self.options
        )
        return ImageButtons(self.request_id)

    async def posted(self, message_ids: list[int]) -> None:
        if self.request_id is not None:
            await self.context.requests.set_messages(self.request_id, [str(m) for m in message_ids])


async def imagine(
    context: DiscordContext,
    interaction: discord.Interaction,
    options: ImagineOptions,
    files: tuple[IncomingFile, ...] = (),
) -> None:
    """Answer a slash command or button with pictures made from `options` (`files`: the
    reference picture the command was given)."""
    options = with_seed(options)
    msg = from_interaction(interaction, "")  # typed: no argument text to parse
    msg = dataclasses.replace(msg, attachments=files)
    buttons = RequestButtons(context, msg, options)
    reply, surface = context.answer(interaction, images=buttons)
    # Checked first (a refusal is the private answer); accepted work shows "thinking…".
    async with surface.answering():
        await context.muse.run_command(
            "imagine", msg, reply, typed=lambda ctx: run_imagine(ctx, options), terms="fields"
        )


async def on_button(interaction: discord.Interaction, action: str, request_id: int) -> None:
    context = context_of(interaction.client)
    if action == "delete":
        await _delete(context, interaction, request_id)
        return
    request = await context.requests.get(request_id)
    if request is None:
        await interaction.response.send_message(REQUEST_GONE, ephemeral=True)
        return
    if action == "reroll":
        options = reroll(request.options)
    else:
        # Variations start from the first picture of the message the button is under.
        shown = interaction.message.attachments if interaction.message is not None else []
        url = shown[0].url if shown else ""
        options = variations(request.options, context.muse.image_settings, url)
    await imagine(context, interaction, options)


async def _delete(
    context: DiscordContext, interaction: discord.Interaction, request_id: int
) -> None:
    request = await context.requests.get(request_id)
    msg = from_interaction(interaction, "")
    requester = request.requester if request is not None else None
    if not may_delete(context.muse.policy, msg, requester):
        await interaction.response.send_message(DELETE_REFUSED, ephemeral=True)
        return
    await interaction.response.defer()  # acknowledged; nothing new to show
    ids = {int(m) for m in (request.message_ids if request is not None else ())}
    if interaction.message is not None:
        ids.add(interaction.message.id)
    channel = interaction.channel
    if channel is None or not hasattr(channel, "get_partial_message"):
        channel = context.bot.get_partial_messageable(interaction.channel_id or 0)
    for message_id in sorted(ids):
        async with context.pacer.turn(int(interaction.channel_id or 0)):
            with contextlib.suppress(discord.NotFound):
                await channel.get_partial_message(message_id).delete()  # type: ignore[union-attr]
    log.info("discord: image request %s deleted by %s", request_id, msg.author_id)
