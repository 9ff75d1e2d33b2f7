"""Threads Muse takes part in, kept in SQLite (core.memory.store's adapter_threads table) so a
restarted Muse keeps answering in them without a mention.

A Slack thread is named by its channel and parent ts (a ts is unique only per channel).
"""

from __future__ import annotations

import time

import aiosqlite

from adapters.slack.translate import PLATFORM


def thread_id(channel: str, thread_ts: str) -> str:
    return f"{channel}:{thread_ts}"


class ThreadStore:
    """Read on every thread message, so the set is cached; additions write through."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db
        self._known: set[str] | None = None

    async def _load(self) -> set[str]:
        if self._known is None:
            async with self.db.execute(
                "SELECT thread_id FROM adapter_threads WHERE platform = ?", (PLATFORM,)
            ) as cur:
                self._known = {str(row[0]) for row in await cur.fetchall()}
        return self._known

    async def contains(self, channel: str, thread_ts: str) -> bool:
        return thread_id(channel, thread_ts) in await self._load()

    async def add(self, channel: str, thread_ts: str, reason: str) -> None:
        known = await self._load()
        key = thread_id(channel, thread_ts)
        if key in known:
            return
        await self.db.execute(
            "INSERT OR IGNORE INTO adapter_threads (platform, thread_id, reason, created_at)"
            " VALUES (?, ?, ?, ?)",
            (PLATFORM, key, reason, time.time()),
        )
        await self.db.commit()
        known.add(key)
