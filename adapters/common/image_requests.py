"""The image requests behind the buttons under pictures (reroll, variations, delete), kept
in SQLite (core.memory.store's image_requests table, one for every platform) so the
buttons keep working after a restart: a button names its request by id (Discord's custom
id, Slack's action id), and the request holds who asked, where, and the options."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from typing import Any

import aiosqlite

from core.image.options import ImagineOptions

__all__ = ["ImageRequest", "ImageRequestStore", "options_from_json", "options_json"]

_OPTION_NAMES = {f.name for f in dataclasses.fields(ImagineOptions)}


def options_json(options: ImagineOptions) -> str:
    """The options as stored: the fields that are set (absent = the configured default)."""
    values = dataclasses.asdict(options)
    return json.dumps({k: v for k, v in values.items() if v not in (None, "")})


def options_from_json(text: str) -> ImagineOptions:
    """Stored options back; rows written by earlier versions load too (same names)."""
    values: dict[str, Any] = json.loads(text)
    return ImagineOptions(**{k: v for k, v in values.items() if k in _OPTION_NAMES})


@dataclass(frozen=True)
class ImageRequest:
    id: int
    requester: str  # the platform's user id
    workspace: str | None
    channel: str
    thread: str | None
    options: ImagineOptions  # None = the configured default; the seed is always set
    message_ids: tuple[str, ...]  # what was posted (messages, files), as the platform names it


class ImageRequestStore:
    def __init__(self, db: aiosqlite.Connection, platform: str) -> None:
        self.db = db
        self.platform = platform

    async def add(
        self,
        requester: str,
        workspace: str | None,
        channel: str,
        thread: str | None,
        options: ImagineOptions,
    ) -> int:
        cur = await self.db.execute(
            "INSERT INTO image_requests (platform, requester, workspace, channel, thread,"
            " options, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                self.platform,
                requester,
                workspace,
                channel,
                thread,
                options_json(options),
                time.time(),
            ),
        )
        await self.db.commit()
        return int(cur.lastrowid or 0)

    async def set_messages(self, request_id: int, message_ids: list[str]) -> None:
        await self.db.execute(
            "UPDATE image_requests SET message_ids = ? WHERE id = ?",
            (json.dumps([str(m) for m in message_ids]), request_id),
        )
        await self.db.commit()

    async def get(self, request_id: int) -> ImageRequest | None:
        async with self.db.execute(
            "SELECT id, requester, workspace, channel, thread, options, message_ids"
            " FROM image_requests WHERE id = ? AND platform = ?",
            (request_id, self.platform),
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
            options=options_from_json(row[5]),
            message_ids=tuple(str(m) for m in json.loads(row[6])),
        )
