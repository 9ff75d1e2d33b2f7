"""Small values a chat adapter keeps between starts, by key, in SQLite (core.memory.store's
adapter_state table), one table for every platform."""

from __future__ import annotations

import time

import aiosqlite

__all__ = ["AdapterState"]


class AdapterState:
    def __init__(self, db: aiosqlite.Connection, platform: str) -> None:
        self.db = db
        self.platform = platform

    async def get(self, key: str) -> str | None:
        async with self.db.execute(
            "SELECT value FROM adapter_state WHERE platform = ? AND key = ?",
            (self.platform, key),
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else str(row[0])

    async def set(self, key: str, value: str) -> None:
        await self.db.execute(
            "INSERT INTO adapter_state (platform, key, value, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (platform, key) DO UPDATE SET value = excluded.value,"
            " updated_at = excluded.updated_at",
            (self.platform, key, value, time.time()),
        )
        await self.db.commit()
