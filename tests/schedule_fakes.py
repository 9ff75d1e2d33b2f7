"""Doubles for scheduler tests: a settable clock and an outbound that records (or fails)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.chat.reply import Target
from core.errors import UserError
from tests.helpers import RecordingReply


@dataclass
class FakeClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class RecordingOutbound:
    """Posts into RecordingReply; fails the first `fail_times` posts with `error`."""

    platform: str = "test"
    reply: RecordingReply = field(default_factory=RecordingReply)
    fail_times: int = 0
    error: Exception = field(default_factory=lambda: ConnectionError("platform is down"))
    channels: tuple[str, ...] = ("c1",)
    opened: int = 0

    async def open(self, target: Target) -> RecordingReply:
        if target.channel not in self.channels:
            raise UserError(f"Muse cannot post in channel {target.channel}.")
        self.opened += 1
        if self.fail_times > 0:
            self.fail_times -= 1
            raise self.error
        return self.reply

    async def channel_name(self, target: Target) -> str:
        return f"#{target.channel}"


@dataclass
class Sleeps:
    """Stands in for asyncio.sleep in backoff: records the waits, waits for nothing."""

    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
