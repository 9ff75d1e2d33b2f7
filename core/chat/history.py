"""Reading a channel's or thread's past messages from the platform (for /summarize).

Adapters provide a ChannelHistory (Discord: channel and thread history; Slack:
conversations.history / conversations.replies) and register it with the core at start-up
(`Recall.histories[platform]`), so the core never imports a platform library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.chat.events import Message
from core.errors import UserError

__all__ = ["ChannelHistory", "HistoryDenied", "PastMessage"]


@dataclass(frozen=True)
class PastMessage:
    author: str  # display name
    text: str
    at: float  # Unix time
    is_bot: bool = False


class HistoryDenied(UserError):
    """The platform refused to show the history (missing permission or scope)."""


class ChannelHistory(Protocol):
    async def read(
        self, place: Message, *, thread: str | None, since: float | None, limit: int
    ) -> list[PastMessage]:
        """Up to `limit` messages, oldest first, of `place`'s channel (`thread` None) or of
        one of its threads, said at or after `since` (None: no lower bound). Raises
        HistoryDenied, worded for the user, when the bot may not read them."""
        ...
