"""Buttons under generated pictures: 🎲 reroll, 🔁 variations, 🗑 delete.

Each button's custom id names the action and a stored request id
(`muse:img:<action>:<request id>`), and the request's options live in SQLite, so buttons
keep working after a restart. The buttons are discord.py DynamicItems: one registered
template (`bot.add_dynamic_items`, at start-up) matches every such id, which a fixed-id
`bot.add_view` cannot do for per-request ids. They are sent in a `View(timeout=None)`.
"""

from __future__ import annotations

import re

import discord

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
        from adapters.discord.images import on_button  # images builds these buttons

        await on_button(interaction, self.action, self.request_id)


class ImageButtons(discord.ui.View):
    """The row of buttons under one request's pictures."""

    def __init__(self, request_id: int) -> None:
        super().__init__(timeout=None)
        for action in ACTIONS:
            self.add_item(ImageButton(action, request_id))
