"""Reactions: 👍/👎 on Muse's messages become feedback rows (/stats counts them), removing
the reaction removes the row, and ❌ on your own message cancels your pending or running
requests — the same semantics as on Discord."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

from adapters.slack.context import SlackContext
from adapters.slack.translate import PLATFORM
from core.chat.events import Message, conversation_key

log = logging.getLogger(__name__)

FEEDBACK = {"+1": 1, "thumbsup": 1, "-1": -1, "thumbsdown": -1}
CANCEL = {"x", "heavy_multiplication_x", "octagonal_sign"}


def base_name(reaction: str) -> str:
    """`+1::skin-tone-3` -> `+1`."""
    return reaction.split("::", 1)[0]


def register(app: AsyncApp, context: SlackContext) -> None:
    @app.event("reaction_added")
    async def on_added(event: dict[str, Any], body: dict[str, Any]) -> None:
        context.spawn(added(context, event, body), "reaction_added")

    @app.event("reaction_removed")
    async def on_removed(event: dict[str, Any]) -> None:
        context.spawn(removed(context, event), "reaction_removed")


async def added(context: SlackContext, event: dict[str, Any], body: dict[str, Any]) -> None:
    item = event.get("item") or {}
    user = str(event.get("user") or "")
    if item.get("type") != "message" or not user or user == context.me.user_id:
        return
    channel, ts = str(item.get("channel")), str(item.get("ts"))
    name = base_name(str(event.get("reaction") or ""))
    author = event.get("item_user")
    if name in CANCEL and author == user:
        who = Message(platform=PLATFORM, channel=channel, author_id=user, text="")
        count = context.muse.cancel_requests(who)
        log.info("slack: ❌ from %s cancelled %d request(s)", user, count)
        return
    value = FEEDBACK.get(name)
    if value is None:
        return
    memory = context.muse.memory
    stored = await memory.find_by_platform_id(ts)
    team = str(body.get("team_id") or context.me.team_id)
    here = conversation_key(PLATFORM, team, channel)
    if author is not None:
        mine = author == context.me.user_id
    else:  # Slack leaves item_user out now and then: Muse knows its own answers
        mine = stored is not None and stored.role == "assistant"
    if not mine:
        return
    # The stored answer knows its thread; a later part of a long answer counts for the
    # channel. A ts is unique per channel only, so the stored row must be in this one.
    conversation = here
    if stored is not None and (stored.conversation + ":").startswith(here + ":"):
        conversation = stored.conversation
    await memory.add_feedback(PLATFORM, ts, user, value, conversation)


async def removed(context: SlackContext, event: dict[str, Any]) -> None:
    item = event.get("item") or {}
    value = FEEDBACK.get(base_name(str(event.get("reaction") or "")))
    user = str(event.get("user") or "")
    if value is None or item.get("type") != "message" or user == context.me.user_id:
        return
    # A missing row (a reaction on someone else's message) is harmless.
    await context.muse.memory.remove_feedback(PLATFORM, str(item.get("ts")), user, value)
