"""Which conversation a message belongs to, by the channel's memory scope.

- "channel" (the default): messages at a channel's top level share the channel's memory,
  on every platform (a Slack mention that starts a thread included); a message inside a
  thread belongs to that thread, a sub-conversation that also sees the channel (`parent`).
- "thread": every thread remembers alone, and so does each Slack mention's new thread
  (Muse's behaviour before schema 7); nothing is seen from the channel.
DMs have no threads: their scope is the DM.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.chat.events import Message, conversation_key
from core.memory.channels import Scope

__all__ = ["MemoryScope", "channel_key", "scope_of"]


@dataclass(frozen=True)
class MemoryScope:
    key: str  # the conversation whose turns this message joins
    channel: str  # its channel's key (per-channel settings, persona fallback)
    parent: str | None  # the channel a thread sub-conversation sees, if any
    mode: Scope

    @property
    def in_thread(self) -> bool:
        return self.key != self.channel


def channel_key(msg: Message) -> str:
    return conversation_key(msg.platform, msg.workspace, msg.channel)


def scope_of(msg: Message, mode: Scope) -> MemoryScope:
    channel = channel_key(msg)
    if mode == "thread":
        return MemoryScope(msg.conversation, channel, None, mode)
    thread = None if msg.starts_thread else msg.thread
    if not thread:
        return MemoryScope(channel, channel, None, mode)
    key = conversation_key(msg.platform, msg.workspace, msg.channel, thread)
    return MemoryScope(key, channel, channel, mode)
