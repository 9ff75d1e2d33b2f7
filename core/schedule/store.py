"""Schedules and their runs in SQLite (tables from migration 3 in core.memory.store).

The run table's primary key (schedule_id, fire_time) is the exactly-once guarantee: a
slot is claimed by an INSERT before anything is posted, and only the process whose
INSERT succeeds posts — a second process on the same file included.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from typing import Any

import aiosqlite

from core.chat.reply import Target
from core.schedule.model import Claim, Run, Schedule

_COLUMNS = (
    "name, source, platform, workspace, channel, thread, cron, timezone, kind, prompt,"
    " persona, enabled, created_by, created_at, active_since"
)


def _values(s: Schedule) -> tuple[Any, ...]:
    t = s.target
    return (
        s.name,
        s.source,
        t.platform,
        t.workspace,
        t.channel,
        t.thread,
        s.cron,
        s.timezone,
        s.kind,
        s.prompt,
        s.persona,
        int(s.enabled),
        s.created_by,
        s.created_at,
        s.active_since,
    )


def _schedule(row: aiosqlite.Row) -> Schedule:
    return Schedule(
        id=row["id"],
        target=Target(row["platform"], row["channel"], row["workspace"], row["thread"]),
        cron=row["cron"],
        timezone=row["timezone"],
        kind=row["kind"],
        prompt=row["prompt"],
        persona=row["persona"],
        enabled=bool(row["enabled"]),
        created_by=row["created_by"],
        source=row["source"],
        name=row["name"],
        created_at=row["created_at"],
        active_since=row["active_since"],
    )


class ScheduleStore:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    # -- schedules --------------------------------------------------------------------------

    async def add(self, schedule: Schedule) -> Schedule:
        now = time.time()
        schedule = replace(
            schedule,
            created_at=schedule.created_at or now,
            active_since=schedule.active_since or now,
        )
        cur = await self.db.execute(
            f"INSERT INTO schedules ({_COLUMNS}) VALUES ({', '.join('?' * 15)})",
            _values(schedule),
        )
        await self.db.commit()
        return replace(schedule, id=int(cur.lastrowid or 0))

    async def update(self, schedule: Schedule) -> None:
        sets = ", ".join(f"{c.strip()} = ?" for c in _COLUMNS.split(","))
        await self.db.execute(
            f"UPDATE schedules SET {sets} WHERE id = ?", (*_values(schedule), schedule.id)
        )
        await self.db.commit()

    async def delete(self, schedule_id: int) -> bool:
        cur = await self.db.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,))
        await self.db.commit()
        return cur.rowcount > 0

    async def get(self, schedule_id: int) -> Schedule | None:
        async with self.db.execute("SELECT * FROM schedules WHERE id = ?", (schedule_id,)) as cur:
            row = await cur.fetchone()
        return _schedule(row) if row else None

    async def all(self) -> list[Schedule]:
        async with self.db.execute("SELECT * FROM schedules ORDER BY id") as cur:
            return [_schedule(row) for row in await cur.fetchall()]

    async def in_space(self, platform: str, workspace: str | None) -> list[Schedule]:
        """Schedules of one Discord guild / Slack workspace (or the shell)."""
        async with self.db.execute(
            "SELECT * FROM schedules WHERE platform = ? AND workspace IS ? ORDER BY id",
            (platform, workspace),
        ) as cur:
            return [_schedule(row) for row in await cur.fetchall()]

    # -- runs -------------------------------------------------------------------------------

    async def claim(self, schedule_id: int, fire_time: int, owner: str) -> bool:
        """Take the slot; False if any process (this one included) already has it."""
        now = time.time()
        try:
            await self.db.execute(
                "INSERT INTO schedule_runs (schedule_id, fire_time, status, claimed_by,"
                " created_at, updated_at) VALUES (?, ?, 'claimed', ?, ?, ?)",
                (schedule_id, fire_time, owner, now, now),
            )
        except sqlite3.IntegrityError:
            # Commit, not roll back: the connection is shared, and the failed INSERT left a
            # write transaction open that would block the other process until it ends.
            await self.db.commit()
            return False
        await self.db.commit()
        return True

    async def note(
        self,
        schedule_id: int,
        fire_time: int,
        *,
        status: str,
        attempts: int,
        error: str = "",
        message_id: str | None = None,
    ) -> None:
        await self.db.execute(
            "UPDATE schedule_runs SET status = ?, attempts = ?, last_error = ?,"
            " message_id = COALESCE(?, message_id), updated_at = ?"
            " WHERE schedule_id = ? AND fire_time = ?",
            (status, attempts, error, message_id, time.time(), schedule_id, fire_time),
        )
        await self.db.commit()

    async def unfinished(self) -> list[Claim]:
        """Slots claimed but neither posted nor given up: in progress, or abandoned."""
        async with self.db.execute(
            "SELECT schedule_id, fire_time, status, claimed_by, updated_at FROM schedule_runs"
            " WHERE status IN ('claimed', 'interrupted') ORDER BY fire_time"
        ) as cur:
            return [Claim(**dict(row)) for row in await cur.fetchall()]

    async def reclaim(self, claim: Claim, owner: str) -> bool:
        """Take over an abandoned claim; False if another process took it first."""
        return await self._swap(claim, "status = 'claimed', claimed_by = ?", owner)

    async def give_up(self, claim: Claim, reason: str) -> bool:
        """Record an abandoned claim that is past the grace period as missed."""
        return await self._swap(claim, "status = 'missed', last_error = ?", reason)

    async def _swap(self, claim: Claim, assignments: str, value: str) -> bool:
        """Compare-and-set: change the run only if it is still exactly as it was read."""
        cur = await self.db.execute(
            f"UPDATE schedule_runs SET {assignments}, updated_at = ?"
            " WHERE schedule_id = ? AND fire_time = ? AND status = ? AND claimed_by = ?",
            (
                value,
                time.time(),
                claim.schedule_id,
                claim.fire_time,
                claim.status,
                claim.claimed_by,
            ),
        )
        await self.db.commit()
        return cur.rowcount == 1

    async def touch(self, schedule_id: int, fire_time: int) -> None:
        """Renew a claim's lease while its post is still being made."""
        await self.db.execute(
            "UPDATE schedule_runs SET updated_at = ? WHERE schedule_id = ? AND fire_time = ?",
            (time.time(), schedule_id, fire_time),
        )
        await self.db.commit()

    async def mark_missed(self, schedule_id: int, fire_time: int) -> bool:
        now = time.time()
        cur = await self.db.execute(
            "INSERT OR IGNORE INTO schedule_runs (schedule_id, fire_time, status, last_error,"
            " created_at, updated_at) VALUES (?, ?, 'missed', 'Muse was not running', ?, ?)",
            (schedule_id, fire_time, now, now),
        )
        await self.db.commit()
        return cur.rowcount > 0

    async def runs(self, schedule_id: int) -> list[Run]:
        async with self.db.execute(
            "SELECT schedule_id, fire_time, status, attempts, last_error, message_id, updated_at"
            " FROM schedule_runs WHERE schedule_id = ? ORDER BY fire_time",
            (schedule_id,),
        ) as cur:
            return [Run(**dict(row)) for row in await cur.fetchall()]

    async def last_run(self, schedule_id: int) -> Run | None:
        async with self.db.execute(
            "SELECT schedule_id, fire_time, status, attempts, last_error, message_id, updated_at"
            " FROM schedule_runs WHERE schedule_id = ? ORDER BY fire_time DESC LIMIT 1",
            (schedule_id,),
        ) as cur:
            row = await cur.fetchone()
        return Run(**dict(row)) if row else None
