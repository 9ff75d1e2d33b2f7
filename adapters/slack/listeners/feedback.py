"""Reactions, translated for the core (core.chat.feedback says what they mean, the same as
on Discord: 👍/👎 on Muse's answers are feedback, ❌ on your own message cancels your
requests, 🔄 on Muse's answer regenerates it)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from adapters.slack.context import SlackContext
from adapters.slack.translate import PLATFORM
from core.chat.feedback import Reaction, reaction_added, reaction_removed

# Slack names emoji; the core reads unicode. Only the ones that mean something there.
EMOJI = {
    "+1": "👍",
    "thumbsup": "👍",
    "-1": "👎",
    "thumbsdown": "👎",
    "x": "❌",
    "heavy_multiplication_x": "✖",
    "octagonal_sign": "🛑",
    "arrows_counterclockwise": "🔄",
    "repeat": "🔁",
}


def emoji(name: str) -> str:
    """`+1::skin-tone-3` -> `👍`; "" for the emoji that mean nothing to the core."""
    return EMOJI.get(name.split("::", 1)[0], "")


def register(app: AsyncApp, context: SlackContext) -> None:
    @app.event("reaction_added")
    async def on_added(event: dict[str, Any], body: dict[str, Any]) -> None:
        reaction = translate(context, event, body)
        if reaction is not None:
            context.spawn(reaction_added(context.muse, reaction), "reaction_added")

    @app.event("reaction_removed")
    async def on_removed(event: dict[str, Any], body: dict[str, Any]) -> None:
        reaction = translate(context, event, body)
        if reaction is not None:
            context.spawn(reaction_removed(context.muse, reaction), "reaction_removed")


def translate(
    context: SlackContext, event: dict[str, Any], body: dict[str, Any]
) -> Reaction | None:
    """A reaction on a message, for the core; None for reactions on files and the like."""
    item = event.get("item") or {}
    user = str(event.get("user") or "")
    if item.get("type") != "message" or not user:
        return None
    me = context.me.user_id
    author = event.get("item_user")  # Slack leaves it out now and then
    return Reaction(
        platform=PLATFORM,
        message_id=str(item.get("ts")),
        user_id=user,
        emoji=emoji(str(event.get("reaction") or "")),
        workspace=str(body.get("team_id") or context.me.team_id),
        channel=str(item.get("channel")),
        message_author=str(author) if author is not None else None,
        by_muse=author == me if author is not None else None,
        by_bot=user == me,
    )
