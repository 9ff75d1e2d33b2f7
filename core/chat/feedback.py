"""What a reaction means, on every platform: 👍/👎 on Muse's answers are feedback rows
(the seed of content evaluation; /stats counts them), removing the reaction removes the
row, ❌ on your own message cancels your waiting or running requests, and 🔄 on one of
Muse's answers regenerates it (a new reply to the same prompt; both are kept).

Adapters translate the platform's reaction event into a `Reaction` (the emoji as plain
unicode, without skin tone or presentation marks) and call `reaction_added` or
`reaction_removed`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from core.chat.events import Message, conversation_key
from core.memory.store import Memory

__all__ = [
    "CANCEL",
    "FEEDBACK",
    "REGENERATE",
    "Reaction",
    "ReactionHost",
    "reaction_added",
    "reaction_removed",
]

log = logging.getLogger(__name__)

FEEDBACK = {"👍": 1, "👎": -1}
CANCEL = {"❌", "✖", "🛑"}
REGENERATE = {"🔄", "🔁"}


@dataclass(frozen=True)
class Reaction:
    platform: str
    message_id: str  # the message reacted to
    user_id: str  # who reacted
    emoji: str  # plain unicode ("👍"); "" for custom emoji, which mean nothing here
    workspace: str | None
    channel: str
    thread: str | None = None  # where known (a Discord thread; a Slack reaction does not say)
    message_author: str | None = None  # who wrote the message, where the platform says
    by_muse: bool | None = None  # the message is Muse's; None: not known (see the memory)
    by_bot: bool = False  # the reaction is a bot's (Muse's own included): it means nothing


class ReactionHost(Protocol):
    """What reactions use of the core (the chat service implements it)."""

    memory: Memory

    def cancel_requests(self, msg: Message) -> int: ...

    async def regenerate_reaction(self, reaction: Reaction) -> None: ...


async def reaction_added(muse: ReactionHost, reaction: Reaction) -> None:
    r = reaction
    if r.by_bot:
        return
    if r.emoji in CANCEL and r.message_author == r.user_id:
        who = Message(platform=r.platform, channel=r.channel, author_id=r.user_id, text="")
        count = muse.cancel_requests(who)
        log.info("%s: ❌ from %s cancelled %d request(s)", r.platform, r.user_id, count)
        return
    value = FEEDBACK.get(r.emoji)
    if value is None and r.emoji not in REGENERATE:
        return
    memory = muse.memory
    stored = await memory.find_by_platform_id(r.message_id)
    mine = r.by_muse
    if mine is None:  # the platform did not say: Muse knows its own answers
        mine = stored is not None and stored.role == "assistant"
    if not mine:
        return
    if value is None:  # 🔄
        await muse.regenerate_reaction(r)
        return
    here = conversation_key(r.platform, r.workspace, r.channel, r.thread)
    # The stored answer knows its conversation (a Slack reaction does not say the thread);
    # a later part of a long answer counts for the place. An id may be unique per channel
    # only, so the stored row must be in this place.
    conversation = here
    if stored is not None and (stored.conversation + ":").startswith(here + ":"):
        conversation = stored.conversation
    await memory.add_feedback(r.platform, r.message_id, r.user_id, value, conversation)


async def reaction_removed(muse: ReactionHost, reaction: Reaction) -> None:
    value = FEEDBACK.get(reaction.emoji)
    if value is None or reaction.by_bot:
        return
    # Removal events do not say whose message it was; a missing row is harmless.
    await muse.memory.remove_feedback(
        reaction.platform, reaction.message_id, reaction.user_id, value
    )
