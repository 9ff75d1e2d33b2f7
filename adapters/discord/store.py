"""The image requests behind persistent buttons, kept in SQLite (core.memory.store's
image_requests table) so the buttons keep working after a restart. Threads are kept by
adapters.common.threads."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import aiosqlite

from adapters.discord.translate import PLATFORM


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
