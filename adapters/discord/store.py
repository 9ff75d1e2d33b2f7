"""What the Discord adapter keeps in SQLite (tables from core.memory.store's migration 4):
threads Muse takes part in, and the image requests behind persistent buttons."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import aiosqlite

from adapters.discord.translate import PLATFORM


class ThreadStore:
    """Threads Muse answers in without being mentioned: ones it was mentioned in once.

    Cached in memory (the set is small and read on every thread message); every addition
    is written through so it survives a restart.
    """

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db
        self._known: set[int] | None = None

    async def _load(self) -> set[int]:
        if self._known is None:
            async with self.db.execute(
                "SELECT thread_id FROM adapter_threads WHERE platform = ?", (PLATFORM,)
            ) as cur:
                self._known = {int(row[0]) for row in await cur.fetchall()}
        return self._known

    async def contains(self, thread_id: int) -> bool:
        return thread_id in await self._load()

    async def add(self, thread_id: int, reason: str) -> None:
        known = await self._load()
        if thread_id in known:
            return
        await self.db.execute(
            "INSERT OR IGNORE INTO adapter_threads (platform, thread_id, reason, created_at)"
            " VALUES (?, ?, ?, ?)",
            (PLATFORM, str(thread_id), reason, time.time()),
        )
        await self.db.commit()
        known.add(thread_id)


@dataclass(frozen=True)
class ImageRequest:
    id: int
    requester: str  # Discord user id
    workspace: str | None
    channel: str
    thread: str | None
    options: dict[str, Any]  # /imagine's typed options; None = the configured default
    message_ids: tuple[int, ...]


class ImageRequestStore:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def add(
        self,
        requester: str,
        workspace: str | None,
        channel: str,
        thread: str | None,
        options: dict[str, Any],
    ) -> int:
        cur = await self.db.execute(
            "INSERT INTO image_requests (platform, requester, workspace, channel, thread,"
            " options, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (PLATFORM, requester, workspace, channel, thread, json.dumps(options), time.time()),
        )
        await self.db.commit()
        return int(cur.lastrowid or 0)

    async def set_messages(self, request_id: int, message_ids: list[int]) -> None:
        await self.db.execute(
            "UPDATE image_requests SET message_ids = ? WHERE id = ?",
            (json.dumps([str(m) for m in message_ids]), request_id),
        )
        await self.db.commit()

    async def get(self, request_id: int) -> ImageRequest | None:
        async with self.db.execute(
            "SELECT id, requester, workspace, channel, thread, options, message_ids"
            " FROM image_requests WHERE id = ? AND platform = ?",
            (request_id, PLATFORM),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return ImageRequest(
            id=int(row[0]),
            requester=str(row[1]),
            workspace=row[2],
            channel=str(row[3]),
            thread=row[4],
            options=dict(json.loads(row[5])),
            message_ids=tuple(int(m) for m in json.loads(row[6])),
        )
