"""Threads Muse takes part in, kept in SQLite (core.memory.store's adapter_threads table) so
a restarted Muse keeps answering in them without a mention.

A thread is named by what makes it unique on its platform: a Discord thread id; a Slack
channel and parent ts (a ts is unique only per channel). The parts are stored joined by
":", one table for every platform.
"""

from __future__ import annotations

import time

import aiosqlite

__all__ = ["ThreadStore"]


def _thread_id(parts: tuple[str | int, ...]) -> str:
    return ":".join(str(part) for part in parts)


class ThreadStore:
    """Read on every thread message, so the platform's set is cached; additions write
    through."""

    def __init__(self, db: aiosqlite.Connection, platform: str) -> None:
        self.db = db
        self.platform = platform
        self._known: set[str] | None = None

    async def _load(self) -> set[str]:
        if self._known is None:
            async with self.db.execute(
                "SELECT thread_id FROM adapter_threads WHERE platform = ?", (self.platform,)
            ) as cur:
                self._known = {str(row[0]) for row in await cur.fetchall()}
        return self._known

    async def contains(self, *thread: str | int) -> bool:
        return _thread_id(thread) in await self._load()

    async def add(self, *thread: str | int, reason: str) -> None:
        known = await self._load()
        key = _thread_id(thread)
        if key in known:
            return
        await self.db.execute(
            "INSERT OR IGNORE INTO adapter_threads (platform, thread_id, reason, created_at)"
            " VALUES (?, ?, ?, ?)",
            (self.platform, key, reason, time.time()),
        )
        await self.db.commit()
        known.add(key)
