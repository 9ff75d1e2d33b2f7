"""Slack event and slash-command payloads -> the core's Message.

A mention at a channel's top level is answered in a new thread under it (`starts_thread`):
memory counts it as said in the channel (core/chat/scope.py), so top-level mentions in one
channel share memory; replies inside a thread are that thread's own sub-conversation.
Slack escapes `&`, `<` and `>` in message and command text; the model reads them plain.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from adapters.slack.people import Person
from core.chat.events import IncomingFile, Message

PLATFORM = "slack"
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")
_BROADCAST = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def clean_text(text: str, bot_user_id: str, names: Mapping[str, str]) -> str:
    """What the model reads: Muse's own mention removed, other people by name, links plain."""

    def user(match: re.Match[str]) -> str:
        if match[1] == bot_user_id:
            return ""
        name = match[2] or names.get(match[1])
        return f"@{name}" if name else f"@{match[1]}"

    text = _MENTION.sub(user, text)
    text = _CHANNEL.sub(lambda m: f"#{m[2] or m[1]}", text)
    text = _LINK.sub(lambda m: m[2] or m[1], text)
    text = _BROADCAST.sub(lambda m: f"@{m[1]}", text)
    return unescape(text).strip()


def mentions(text: str, user_id: str) -> bool:
    return any(m[1] == user_id for m in _MENTION.finditer(text))


def is_dm(event: Mapping[str, Any]) -> bool:
    channel_type = event.get("channel_type")
    if channel_type is not None:
        return channel_type == "im"
    return str(event.get("channel", "")).startswith("D")


def reply_thread(event: Mapping[str, Any]) -> str | None:
    """The thread Muse answers in: the event's thread, or (in channels) a new one under it."""
    thread = event.get("thread_ts")
    if thread:
        return str(thread)
    return None if is_dm(event) else str(event["ts"])


def from_event(
    event: Mapping[str, Any],
    team: str,
    person: Person,
    text: str,
    *,
    channel_name: str = "",
    attachments: tuple[IncomingFile, ...] = (),
) -> Message:
    dm = is_dm(event)
    return Message(
        platform=PLATFORM,
        channel=str(event["channel"]),
        author_id=str(event.get("user") or event.get("bot_id") or ""),
        text=text,
        workspace=team,
        thread=reply_thread(event),
        starts_thread=not dm and not event.get("thread_ts"),
        author_name=person.name,
        message_id=str(event["ts"]),
        is_dm=dm,
        author_is_bot=person.is_bot or bool(event.get("bot_id")),
        platform_admin=person.is_admin,
        channel_name="direct message" if dm else channel_name,
        attachments=attachments,
    )


def action_thread(body: Mapping[str, Any]) -> str | None:
    """The thread of the message whose button was pressed (None at the top level)."""
    container = body.get("container") or {}
    thread = container.get("thread_ts") or (body.get("message") or {}).get("thread_ts")
    return str(thread) if thread else None


def from_action(body: Mapping[str, Any], person: Person) -> Message:
    """A button press (`block_actions`) as a message without text, in the place of the
    message the button is under."""
    container = body.get("container") or {}
    channel = str((body.get("channel") or {}).get("id") or container.get("channel_id") or "")
    dm = channel.startswith("D")
    name = str((body.get("channel") or {}).get("name") or "")
    return Message(
        platform=PLATFORM,
        channel=channel,
        author_id=str((body.get("user") or {}).get("id") or ""),
        text="",
        workspace=str((body.get("team") or {}).get("id") or "") or None,
        thread=action_thread(body),
        author_name=person.name,
        message_id=str(body.get("trigger_id") or ""),
        is_dm=dm,
        author_is_bot=False,
        platform_admin=person.is_admin,
        channel_name="direct message" if dm else (f"#{name}" if name else ""),
    )


def from_command(command: Mapping[str, Any], person: Person, text: str) -> Message:
    """A slash command as a message whose text is the argument text. Slack does not say
    which thread a command was typed in, so commands act on the channel's conversation."""
    channel = str(command.get("channel_id", ""))
    dm = channel.startswith("D")
    name = str(command.get("channel_name") or "")
    return Message(
        platform=PLATFORM,
        channel=channel,
        author_id=str(command.get("user_id", "")),
        text=unescape(text).strip(),
        workspace=str(command.get("team_id") or "") or None,
        author_name=person.name,
        message_id=str(command.get("trigger_id") or ""),
        is_dm=dm,
        author_is_bot=False,
        platform_admin=person.is_admin,
        channel_name="direct message" if dm else (f"#{name}" if name else ""),
    )
