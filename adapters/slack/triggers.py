"""When Muse answers a Slack message.

Triggers: a mention (the `app_mention` event, or a `message` whose text mentions Muse), any
message in a thread Muse was mentioned in (remembered in SQLite), and DMs if configured.
Never its own messages; other bots' only if configured; never edits, deletions and the
other message subtypes (Muse's own chat.update calls come back as `message_changed`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.slack.context import SlackContext
from adapters.slack.translate import is_dm, mentions

# Subtypes that are still someone writing to the channel; every other one is a notice.
CHAT_SUBTYPES = {None, "thread_broadcast", "file_share", "bot_message"}


@dataclass(frozen=True)
class Decision:
    respond: bool
    reason: str  # mention, thread, dm — or why not

    def __bool__(self) -> bool:
        return self.respond


def _no(reason: str) -> Decision:
    return Decision(False, reason)


def from_a_bot(event: Mapping[str, Any]) -> bool:
    return event.get("subtype") == "bot_message" or bool(event.get("bot_id"))


async def decide(event: Mapping[str, Any], context: SlackContext, *, mention: bool) -> Decision:
    """`mention`: the event is an `app_mention`."""
    me = context.me
    if event.get("user") == me.user_id or (event.get("bot_id") or None) == me.bot_id:
        return _no("own message")
    if event.get("subtype") not in CHAT_SUBTYPES:
        return _no(f"subtype {event.get('subtype')}")
    if from_a_bot(event) and not context.settings.respond_to_bots:
        return _no("bot")
    if not event.get("channel") or not event.get("ts"):
        return _no("no place")
    if is_dm(event):
        return Decision(True, "dm") if context.settings.respond_to_dms else _no("dms off")
    if mention or mentions(str(event.get("text") or ""), me.user_id):
        return Decision(True, "mention")
    thread = event.get("thread_ts")
    if thread and await context.threads.contains(str(event["channel"]), str(thread)):
        return Decision(True, "thread")
    return _no("not addressed")
