"""Channel-aware memory tables (schema 7): rolling summaries, channel context rows, and each
channel's memory settings. Memory's forget/export/purge/prune cover these tables too."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import aiosqlite

from core.memory.store import StoredMessage

__all__ = ["ChannelSettings", "ChannelStore", "ContextRow", "Said", "Scope", "Summary"]

Scope = Literal["channel", "thread"]


@dataclass(frozen=True)
class Summary:
    conversation: str
    content: str
    through_id: int  # the newest message it covers
    oldest_at: float  # when the oldest covered message was said
    revisions: int
    updated_at: float


@dataclass(frozen=True)
class ContextRow:
    """A channel message not addressed to Muse."""

    id: int
    conversation: str
    author_id: str
    author_name: str
    content: str
    platform_message_id: str | None
    created_at: float


@dataclass(frozen=True)
class Said:
    """A turn or a context row, as another conversation sees it."""

    at: float
    name: str
    content: str
    is_turn: bool
    author_id: str = ""  # whose words these are ('' for Muse's own)


@dataclass(frozen=True)
class ChannelSettings:
    """What admins chose for one channel (None fields: the [memory] default)."""

    scope: Scope | None = None
    context: bool | None = None


class ChannelStore:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    # -- summaries ----------------------------------------------------------------------

    async def summary(self, conversation: str) -> Summary | None:
        async with self._db.execute(
            "SELECT * FROM summaries WHERE conversation = ?", (conversation,)
        ) as cur:
            row = await cur.fetchone()
        return Summary(**dict(row)) if row else None

    async def save_summary(
        self, conversation: str, content: str, through_id: int, oldest_at: float
    ) -> None:
        await self._db.execute(
            "INSERT INTO summaries (conversation, content, through_id, oldest_at, revisions,"
            " updated_at) VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT (conversation) DO UPDATE SET"
            " content = excluded.content, through_id = excluded.through_id,"
            " oldest_at = MIN(summaries.oldest_at, excluded.oldest_at),"
            " revisions = summaries.revisions + 1, updated_at = excluded.updated_at",
            (conversation, content, through_id, oldest_at, time.time()),
        )
        await self._db.commit()

    async def messages_between(
        self, conversation: str, after_id: int, through_id: int
    ) -> list[StoredMessage]:
        """Messages with after_id < id <= through_id, oldest first."""
        async with self._db.execute(
            "SELECT * FROM messages WHERE conversation = ? AND id > ? AND id <= ? ORDER BY id",
            (conversation, after_id, through_id),
        ) as cur:
            return [StoredMessage(**dict(row)) for row in await cur.fetchall()]

    # -- channel context ------------------------------------------------------------------

    async def add_context(
        self,
        conversation: str,
        content: str,
        *,
        author_id: str,
        author_name: str,
        platform_message_id: str | None = None,
        keep: int = 50,
        created_at: float | None = None,
    ) -> int:
        """Store one context message and keep only the newest `keep` of its conversation."""
        cur = await self._db.execute(
            "INSERT INTO channel_context (conversation, author_id, author_name, content,"
            " platform_message_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                conversation,
                author_id,
                author_name,
                content,
                platform_message_id,
                time.time() if created_at is None else created_at,
            ),
        )
        await self._db.execute(
            "DELETE FROM channel_context WHERE conversation = ? AND id NOT IN ("
            " SELECT id FROM channel_context WHERE conversation = ? ORDER BY id DESC LIMIT ?)",
            (conversation, conversation, keep),
        )
        await self._db.commit()
        return int(cur.lastrowid or 0)

    async def context(self, conversation: str, since: float, limit: int) -> list[ContextRow]:
        """The newest `limit` context rows said after `since`, oldest first."""
        async with self._db.execute(
            "SELECT * FROM (SELECT * FROM channel_context WHERE conversation = ?"
            " AND created_at >= ? ORDER BY id DESC LIMIT ?) ORDER BY id",
            (conversation, since, limit),
        ) as cur:
            return [ContextRow(**dict(row)) for row in await cur.fetchall()]

    async def said_between(
        self, conversation: str, start: float, end: float, limit: int
    ) -> list[Said]:
        """The newest `limit` turns and context rows said in [start, end), oldest first."""
        async with self._db.execute(
            "SELECT * FROM (SELECT created_at, CASE WHEN role = 'assistant' THEN 'Muse'"
            " ELSE author_name END AS name, content, 1 AS is_turn, CASE WHEN role = 'assistant'"
            " THEN '' ELSE author_id END FROM messages"
            " WHERE conversation = ? AND created_at >= ? AND created_at < ?"
            " UNION ALL SELECT created_at, author_name, content, 0, author_id FROM channel_context"
            " WHERE conversation = ? AND created_at >= ? AND created_at < ?)"
            " ORDER BY created_at DESC LIMIT ?",
            (conversation, start, end, conversation, start, end, limit),
        ) as cur:
            rows = [Said(r[0], r[1], r[2], bool(r[3]), r[4]) for r in await cur.fetchall()]
        return rows[::-1]

    # -- per-channel settings -------------------------------------------------------------

    async def settings(self, channel: str) -> ChannelSettings:
        async with self._db.execute(
            "SELECT scope, context FROM channel_memory WHERE channel = ?", (channel,)
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return ChannelSettings()
        return ChannelSettings(row["scope"], bool(row["context"]))

    async def set_settings(self, channel: str, *, scope: Scope, context: bool, set_by: str) -> None:
        await self._db.execute(
            "INSERT INTO channel_memory (channel, scope, context, set_by, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (channel) DO UPDATE SET scope = excluded.scope,"
            " context = excluded.context, set_by = excluded.set_by,"
            " updated_at = excluded.updated_at",
            (channel, scope, int(context), set_by, time.time()),
        )
        await self._db.commit()
