"""Shared test helpers: a Reply that records what the core sent, ways to build and wait on
the core, a virtual clock for the pacer, and the one way tests start `python -m bot.cli`."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
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
    accepted: int = 0  # times the core said the request was accepted (Reply.working)

    async def status(self, text: str) -> None:
        self.statuses.append(text)

    async def working(self) -> None:
        self.accepted += 1

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


def never_ends(engine: Any) -> None:
    """Make `engine` write until max_new_tokens, never stopping at an end-of-text token: the
    local engine forgets its end tokens; a `transformers serve` is asked for a minimum
    length through its `generation_config` request field."""
    if engine.settings.backend == "local":
        engine.eos_ids = set()
    else:
        extra = {"generation_config": json.dumps({"min_new_tokens": 5000})}
        engine.settings = engine.settings.model_copy(update={"extra_body": extra})


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


# -- `python -m bot.cli` as a user runs it -------------------------------------------------

CLI_TIMEOUT = 50.0  # under the 60 s per-test limit: a hang fails with the child's stderr
_started: list[subprocess.Popen[str]] = []


def start_muse(
    *args: str,
    tiny: Path | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: int = subprocess.PIPE,
) -> subprocess.Popen[str]:
    """Start `python -m bot.cli ARGS` offline, with text pipes for stdin, stdout and stderr.

    `tiny` is the folder holding the tiny test models, which `--tiny` reads from
    MUSE_TINY_DIR; `env` adds to this process's environment. Whatever is still running when
    its test ends is killed (conftest's `stop_started_muses`).
    """
    extra = {"HF_HUB_OFFLINE": "1"} | ({"MUSE_TINY_DIR": str(tiny)} if tiny else {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **extra, **(env or {})},
        cwd=cwd,
    )
    _started.append(proc)
    return proc


def start_muse_run(
    tmp_path: Path, tiny: Path, config: str, env: Mapping[str, str]
) -> subprocess.Popen[str]:
    """`muse run --tiny` with `config` as its muse.toml and a database in `tmp_path`,
    stdin closed (as under a service manager)."""
    cfg = tmp_path / "muse.toml"
    cfg.write_text(config, encoding="utf-8")
    args = ("run", "--tiny", "--config", str(cfg), "--db", str(tmp_path / "muse.db"))
    return start_muse(*args, tiny=tiny, env=env, cwd=tmp_path, stdin=subprocess.DEVNULL)


def run_muse(
    *args: str, input: str = "", timeout: float = CLI_TIMEOUT, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """`start_muse`, write `input` to its stdin, and wait (bounded) for it to exit."""
    proc = start_muse(*args, **kwargs)
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        command = " ".join(args)
        raise AssertionError(f"muse {command} still running after {timeout} s:\n{err}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def stop_started_muses() -> None:
    """Kill what `start_muse` started and is still running (a test failed or timed out)."""
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def message_rows(db: Path, *columns: str) -> list[tuple[Any, ...]]:
    """These columns of a Muse database's stored messages, oldest first."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(f"SELECT {', '.join(columns)} FROM messages ORDER BY id").fetchall()


# -- /metrics as Prometheus reads it -------------------------------------------------------

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_metrics(text: str) -> Samples:
    """Every sample of a /metrics page, parsed by prometheus_client's own text parser."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value, its labels matched exactly; 0 when absent (a counter that never
    moved has no series yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


async def http_get(url: str) -> tuple[int, str]:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def scrape(base_url: str) -> Samples:
    status, text = await http_get(f"{base_url}/metrics")
    assert status == 200, text
    return parse_metrics(text)
