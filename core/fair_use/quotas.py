"""Per-user request rates and daily budgets (text tokens, images).

Rates live in memory (a minute's window); daily usage is counted per UTC day in memory
and written to SQLite so a restart does not hand out a fresh budget.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from datetime import UTC, datetime, timedelta

import aiosqlite

from core.chat.events import Message
from core.errors import UserError
from core.fair_use.policy import Policy
from core.fair_use.settings import LimitSettings, parse_role_multipliers


class OverLimit(UserError):
    pass


def utc_day(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


def until_reset(now: float) -> str:
    today = datetime.fromtimestamp(now, UTC)
    midnight = (today + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    minutes = int((midnight - today).total_seconds() // 60)
    return f"00:00 UTC (in {minutes // 60} h {minutes % 60:02d} min)"


class Quotas:
    def __init__(self, settings: LimitSettings, policy: Policy, db: aiosqlite.Connection) -> None:
        self.settings = settings
        self.policy = policy
        self.db = db
        self.roles = parse_role_multipliers(settings.role_multipliers)
        self._recent: dict[str, deque[float]] = defaultdict(deque)
        self._usage: dict[tuple[str, str, str], int] = {}

    @staticmethod
    def user_key(msg: Message) -> str:
        return f"{msg.platform}:{msg.author_id}"

    def multiplier(self, msg: Message) -> float:
        """0 means unlimited."""
        if self.policy.is_admin(msg):
            return self.settings.admin_multiplier
        factors = [
            self.roles[f"{msg.platform}:{r}"]
            for r in msg.roles
            if f"{msg.platform}:{r}" in self.roles
        ]
        return max(factors, default=1.0)

    async def _used(self, day: str, user: str, kind: str) -> int:
        key = (day, user, kind)
        if key not in self._usage:
            async with self.db.execute(
                "SELECT amount FROM usage WHERE day = ? AND user = ? AND kind = ?", key
            ) as cur:
                row = await cur.fetchone()
            self._usage[key] = int(row[0]) if row else 0
        return self._usage[key]

    async def admit(self, msg: Message, kind: str, now: float | None = None) -> None:
        """Raise OverLimit if this user may not start another `kind` ("text"/"image") now."""
        now = time.time() if now is None else now
        factor = self.multiplier(msg)
        if factor == 0:
            return
        user = self.user_key(msg)
        rpm = self.settings.requests_per_minute
        window = self._recent[user]
        while window and window[0] <= now - 60:
            window.popleft()
        if rpm and len(window) >= rpm * factor:
            wait = int(window[0] + 60 - now) + 1
            raise OverLimit(
                f"Slow down a little: at most {int(rpm * factor)} requests a minute. "
                f"Try again in {wait} s."
            )
        budget = self.settings.daily_tokens if kind == "text" else self.settings.daily_images
        unit = "tokens of replies" if kind == "text" else "images"
        if budget and await self._used(utc_day(now), user, kind) >= budget * factor:
            raise OverLimit(
                f"You've used today's budget of {int(budget * factor)} {unit}. "
                f"It resets at {until_reset(now)}."
            )
        window.append(now)

    async def record(self, msg: Message, kind: str, amount: int, now: float | None = None) -> None:
        if amount <= 0:
            return
        day, user = utc_day(time.time() if now is None else now), self.user_key(msg)
        await self._used(day, user, kind)
        self._usage[(day, user, kind)] += amount
        await self.db.execute(
            "INSERT INTO usage (day, user, kind, amount) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (day, user, kind) DO UPDATE SET amount = amount + excluded.amount",
            (day, user, kind, amount),
        )
        await self.db.commit()
