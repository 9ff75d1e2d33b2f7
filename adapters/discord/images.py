"""/imagine on Discord and the buttons under its pictures.

Typed slash-command options become the core command's argument text, so parsing,
validation, fair use, moderation and error wording all stay in the core's `/imagine`.
The adapter picks the seed when none is given, so the stored request (for the buttons)
knows exactly what was made.

- 🎲 reroll: the same options with a new random seed.
- 🔁 variations: up to four more pictures (fewer if [image] max_count is lower) of the
  same prompt and options, with the seeds that follow the shown ones (s+n, s+n+1, …),
  so each picture stays reproducible from the seed in its caption.
- 🗑 delete: removes the pictures; only whoever asked for them, or an admin.

Each button's custom id names the action and a stored request id
(`muse:img:<action>:<request id>`), and the request's options live in SQLite, so buttons
keep working after a restart. The buttons are discord.py DynamicItems: one registered
template (`bot.add_dynamic_items`, at start-up) matches every such id, which a fixed-id
`bot.add_view` cannot do for per-request ids. They are sent in a `View(timeout=None)`.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import shlex
from typing import Any

import discord

from adapters.discord.context import DiscordContext, context_of
from adapters.discord.translate import from_interaction
from core.chat.events import Message
from core.image.options import MAX_SEED

log = logging.getLogger(__name__)

# The shell's option names, in the order they are written out.
OPTION_NAMES = ("negative", "seed", "steps", "width", "height", "count", "guidance")
VARIATIONS = 4


def imagine_text(options: dict[str, Any]) -> str:
    """`/imagine` argument text for typed options: `--name=value` options, then `--` and
    the prompt, each shell-quoted, so no prompt text is ever read as an option."""
    words = [
        shlex.quote(f"--{name}={options[name]}")
        for name in OPTION_NAMES
        if options.get(name) not in (None, "")
    ]
    return " ".join([*words, "--", shlex.quote(str(options["prompt"]))])


def new_seed() -> int:
    return random.randint(0, MAX_SEED)


def reroll_options(options: dict[str, Any]) -> dict[str, Any]:
    return {**options, "seed": new_seed()}


def variation_options(
    options: dict[str, Any], default_count: int, max_count: int
) -> dict[str, Any]:
    shown = int(options.get("count") or default_count)
    seed = int(options.get("seed") or 0)
    return {
        **options,
        "seed": (seed + shown) % (MAX_SEED + 1),
        "count": max(1, min(VARIATIONS, max_count)),
    }


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

    def __init__(self, context: DiscordContext, msg: Message, options: dict[str, Any]) -> None:
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
            await self.context.requests.set_messages(self.request_id, message_ids)


async def imagine(
    context: DiscordContext, interaction: discord.Interaction, options: dict[str, Any]
) -> None:
    """Answer a slash command or button with pictures made from `options`."""
    options = {k: v for k, v in options.items() if v is not None}
    if "seed" not in options:
        options["seed"] = new_seed()
    msg = from_interaction(interaction, imagine_text(options))
    buttons = RequestButtons(context, msg, options)
    reply, surface = context.answer(interaction, images=buttons)
    await surface.defer()  # within Discord's 3 seconds; generating takes longer
    await context.muse.run_command("imagine", msg, reply)


async def on_button(interaction: discord.Interaction, action: str, request_id: int) -> None:
    context = context_of(interaction.client)
    if action == "delete":
        await _delete(context, interaction, request_id)
        return
    request = await context.requests.get(request_id)
    if request is None:
        await interaction.response.send_message(
            "I no longer know how these pictures were made; use /imagine again.", ephemeral=True
        )
        return
    settings = context.muse.image_settings
    if action == "reroll":
        options = reroll_options(request.options)
    else:
        options = variation_options(request.options, settings.count, settings.max_count)
    await imagine(context, interaction, options)


async def _delete(
    context: DiscordContext, interaction: discord.Interaction, request_id: int
) -> None:
    request = await context.requests.get(request_id)
    msg = from_interaction(interaction, "")
    requester = request.requester if request is not None else None
    if msg.author_id != requester and not context.muse.policy.is_admin(msg):
        await interaction.response.send_message(
            "Only the person who asked for these pictures, or an admin, can delete them.",
            ephemeral=True,
        )
        return
    await interaction.response.defer()  # acknowledged; nothing new to show
    ids = set(request.message_ids if request is not None else ())
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
