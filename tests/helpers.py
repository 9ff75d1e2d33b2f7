"""Shared test helpers: a Reply that records what the core sent, ways to build and wait on
the core, and a virtual clock for the pacer."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from adapters.common import pacing
from bot.features import register_commands
from core.chat.events import Message
from core.chat.reply import Attachment, Sent
from core.chat.service import Muse
from core.commands import schedule as schedule_commands
from core.fair_use.settings import LimitSettings
from core.schedule.scheduler import Scheduler
from core.text.settings import TextSettings

if TYPE_CHECKING:
    from core.fair_use.policy import Policy
    from core.image.engine import ImageEngine
    from core.memory.store import Memory
    from core.text.engine import TextEngine

_ids = itertools.count(1)


@dataclass
class RecordingReply:
    sent: list[str] = field(default_factory=list)
    pieces: list[list[str]] = field(default_factory=list)
    uploads: list[tuple[list[Attachment], str]] = field(default_factory=list)
    ephemeral: list[bool] = field(default_factory=list)

    async def send(self, text: str, *, ephemeral: bool = False) -> Sent:
        self.sent.append(text)
        self.ephemeral.append(ephemeral)
        return Sent((f"r{next(_ids)}",), text)

    async def stream(self, pieces: AsyncIterator[str]) -> Sent:
        got = [p async for p in pieces]
        self.pieces.append(got)
        self.sent.append("".join(got))
        self.ephemeral.append(False)
        return Sent((f"r{next(_ids)}",), "".join(got))

    async def upload(self, files: list[Attachment], text: str) -> Sent:
        self.uploads.append((files, text))
        self.sent.append(text)
        self.ephemeral.append(False)
        return Sent((f"r{next(_ids)}",), text)

    statuses: list[str] = field(default_factory=list)

    async def status(self, text: str) -> None:
        self.statuses.append(text)

    @property
    def last(self) -> str:
        return self.sent[-1]


def msg(text: str, channel: str = "c1", author: str = "u1", **kw: object) -> Message:
    return Message(
        platform="test", channel=channel, author_id=author, author_name=author, text=text, **kw
    )  # type: ignore[arg-type]


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    """Poll an async check until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def answered(muse: Muse, key: str, count: int = 1) -> list[Any]:
    """Wait until `count` assistant turns are stored for `key` (the reply is complete)."""

    async def check() -> list[Any]:
        rows = [m for m in await muse.memory.recent(key) if m.role == "assistant"]
        return rows if len(rows) >= count else []

    return await eventually(check)


def tiny_text_settings(model_dir: Path, **changes: Any) -> TextSettings:
    """[text] for the tiny test model: short greedy replies unless `changes` say otherwise.
    Settings are passed at construction, as the objects that read them capture them then."""
    values: dict[str, Any] = {"max_new_tokens": 12, "temperature": 0.0, **changes}
    return TextSettings(model=str(model_dir), **values)


def platform_muse(
    memory: Memory,
    engine: TextEngine,
    settings: TextSettings,
    images: ImageEngine | None = None,
    policy: Policy | None = None,
    limits: LimitSettings | None = None,
) -> Muse:
    """The core as the adapter tests drive it: by default no rate limit and no place-in-line
    notices."""
    extra: dict[str, Any] = {"policy": policy} if policy is not None else {}
    core = Muse(
        memory=memory,
        text_engine=engine,
        arbiter=engine.arbiter,
        text_settings=settings,
        **extra,
        limits=limits or LimitSettings(requests_per_minute=0, notify_wait_seconds=3600),
        image_engine=images,
        image_settings=images.settings if images is not None else None,
    )
    register_commands(core)
    return core


def with_scheduler(muse: Muse, **kwargs: Any) -> Scheduler:
    """A Scheduler for `muse`, with /schedule registered as the wiring does."""
    scheduler = Scheduler(muse, **kwargs)
    schedule_commands.register(muse.commands, scheduler)
    return scheduler


class PacerClock:
    """Virtual time for `adapters.common.pacing`, installed by `install`: it moves only when a
    pacer waits, by exactly what it waits, so the pacer's schedule (`waits`) is exact, free of
    timer slack, while each wait still really sleeps (streams behave as on the real clock)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> PacerClock:
        monkeypatch.setattr(pacing, "time", SimpleNamespace(monotonic=lambda: self.now))
        # pacing's own `asyncio` name only: everything as usual but `sleep`.
        monkeypatch.setattr(
            pacing, "asyncio", SimpleNamespace(**{**vars(asyncio), "sleep": self.sleep})
        )
        return self

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        await asyncio.sleep(seconds)
