"""What each reply was generated from, kept for the feedback loop (exports, /stats).

A row holds the chat messages exactly as the model got them (rendering them again later
could differ: history trims, persona edits), the completion, and who and what made it:
the asker, every user whose words are in the prompt (a purge drops the row, see
`Memory.purge_user`), the persona label, the LoRA adapter, the model. A regenerated reply
points at the generation it re-answers, which is what pairs them for DPO.

The tables are created by migration 7 in core/memory/store.py.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiosqlite

__all__ = ["Approval", "Generation", "Generations", "persona_label"]

PERSONA_LABEL_CHARS = 40


def persona_label(system_prompt: str, default_prompt: str, adapter: str | None) -> str:
    """How /stats names a persona: its adapter, else 'default', else the prompt's start."""
    if adapter:
        return f"adapter {adapter}"
    if system_prompt == default_prompt:
        return "default"
    short = " ".join(system_prompt.split())
    if len(short) > PERSONA_LABEL_CHARS:
        short = short[: PERSONA_LABEL_CHARS - 1] + "…"
    return f"custom: {short}"


@dataclass(frozen=True)
class Generation:
    id: int
    conversation: str
    reply_ids: list[str]
    prompt: list[dict[str, str]]
    completion: str
    asker: str
    authors: list[str]
    persona: str
    adapter: str | None
    model: str
    regenerates: int | None
    created_at: float

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> Generation:
        d: dict[str, Any] = dict(row)
        for field in ("reply_ids", "prompt", "authors"):
            d[field] = json.loads(d[field])
        return cls(**d)

    @property
    def root(self) -> int:
        """The generation every regeneration of the same prompt points back to."""
        return self.regenerates if self.regenerates is not None else self.id


@dataclass(frozen=True)
class Approval:
    label: str
    up: int
    down: int

    @property
    def share(self) -> float:
        return self.up / (self.up + self.down) if self.up + self.down else 0.0


class Generations:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def record(
        self,
        conversation: str,
        prompt: list[dict[str, str]],
        completion: str,
        reply_ids: Iterable[str],
        *,
        asker: str,
        authors: Iterable[str],
        persona: str,
        adapter: str | None,
        model: str,
        regenerates: int | None = None,
    ) -> int:
        ids = list(dict.fromkeys(reply_ids))
        cur = await self._db.execute(
            "INSERT INTO generations (conversation, reply_ids, prompt, completion, asker,"
            " authors, persona, adapter, model, regenerates, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                conversation,
                json.dumps(ids),
                json.dumps(prompt, ensure_ascii=False),
                completion,
                asker,
                json.dumps(sorted(set(authors))),
                persona,
                adapter,
                model,
                regenerates,
                time.time(),
            ),
        )
        generation_id = int(cur.lastrowid or 0)
        # One execute per id (a reply has one to a few): under a flood, sqlite3's
        # executemany failed with "bad parameter or other API misuse" on this shared
        # connection (test_isolation_fuzz.py::test_flood_of_500_mentions).
        for reply_id in ids:
            await self._db.execute(
                "INSERT OR IGNORE INTO generation_replies (platform_message_id, generation_id)"
                " VALUES (?, ?)",
                (reply_id, generation_id),
            )
        await self._db.commit()
        return generation_id

    async def by_reply(self, platform_message_id: str) -> Generation | None:
        """The generation behind a posted message (any part of a long reply)."""
        async with self._db.execute(
            "SELECT g.* FROM generations g JOIN generation_replies r ON r.generation_id = g.id"
            " WHERE r.platform_message_id = ? ORDER BY g.id DESC LIMIT 1",
            (platform_message_id,),
        ) as cur:
            row = await cur.fetchone()
        return Generation.from_row(row) if row else None

    async def latest(self, conversation: str) -> Generation | None:
        async with self._db.execute(
            "SELECT * FROM generations WHERE conversation = ? ORDER BY id DESC LIMIT 1",
            (conversation,),
        ) as cur:
            row = await cur.fetchone()
        return Generation.from_row(row) if row else None

    async def all(self) -> list[Generation]:
        async with self._db.execute("SELECT * FROM generations ORDER BY id") as cur:
            return [Generation.from_row(r) for r in await cur.fetchall()]

    async def votes(self) -> dict[int, list[tuple[str, int]]]:
        """generation id -> [(voter "platform:id", +1/-1)], from the feedback table."""
        async with self._db.execute(
            "SELECT DISTINCT r.generation_id, f.platform, f.user_id, f.message_id, f.value"
            " FROM feedback f JOIN generation_replies r ON r.platform_message_id = f.message_id"
            " JOIN generations g ON g.id = r.generation_id"
            " WHERE substr(g.conversation, 1, length(f.platform) + 1) = f.platform || ':'"
        ) as cur:
            rows = await cur.fetchall()
        seen: dict[int, dict[str, int]] = {}
        for generation_id, platform, user_id, _, value in rows:
            # One vote per person per reply, however many of its parts they reacted to.
            seen.setdefault(int(generation_id), {})[f"{platform}:{user_id}"] = int(value)
        return {g: sorted(v.items()) for g, v in seen.items()}

    async def approval(self, by: str, conversation_prefix: str = "") -> list[Approval]:
        """👍/👎 on generated replies grouped by 'persona' or 'model', most votes first."""
        if by not in ("persona", "model"):
            raise ValueError(f"approval by {by!r}: persona or model")
        async with self._db.execute(
            f"SELECT g.{by}, COALESCE(SUM(f.value = 1), 0), COALESCE(SUM(f.value = -1), 0)"
            " FROM feedback f JOIN generation_replies r ON r.platform_message_id = f.message_id"
            " JOIN generations g ON g.id = r.generation_id"
            " WHERE substr(g.conversation, 1, length(?)) = ?"
            " AND substr(g.conversation, 1, length(f.platform) + 1) = f.platform || ':'"
            f" GROUP BY g.{by} ORDER BY COUNT(*) DESC, g.{by}",
            (conversation_prefix, conversation_prefix),
        ) as cur:
            rows = await cur.fetchall()
        return [Approval(str(r[0]), int(r[1]), int(r[2])) for r in rows]

    async def export_key(self) -> bytes:
        """This database's secret for pseudonymising user ids (made on first use)."""
        async with self._db.execute("SELECT key FROM export_key WHERE id = 1") as cur:
            row = await cur.fetchone()
        if row is None:
            await self._db.execute(
                "INSERT OR IGNORE INTO export_key (id, key) VALUES (1, ?)",
                (secrets.token_hex(32),),
            )
            await self._db.commit()
            return await self.export_key()
        return bytes.fromhex(str(row[0]))
