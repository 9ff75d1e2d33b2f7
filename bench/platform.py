"""End to end through a platform: what a person waits for, from mention to visible text.

A real `muse run` process (the benchmark model, the tiny image pipeline) talks to the
project's Discord stand-in (tests/standins: Discord's REST API and gateway on 127.0.0.1,
driven by the real discord.py inside Muse). 32 mentions in 32 channels are sent at once,
then the same 32 one after another; each reply's first visible text is the stand-in's
first message POST in that channel, its final text the last write to that channel
before Muse stored the reply (replies are stored once the last edit is sent). Then 8
`/imagine` at once and one after another, to the picture's upload. The startup figure is
spawn to the gateway IDENTIFY, which Muse sends once its models are loaded.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.standins import discord_payloads as p
from tests.standins.discord_api import DiscordStandin

__all__ = ["platform_bench"]

MENTIONS = 32
IMAGES = 8
NEW_TOKENS = 48
TIMEOUT = 600.0  # seconds: a bound on every wait, generous for a busy 2-core machine
FIRST_CHANNEL = 1_400_000_000_000_000_000

CONFIG = """\
[muse]
shutdown_timeout_seconds = 5
[text]
model = "{text}"
max_new_tokens = {new}
temperature = 0.0
[image]
model = "{image}"
[limits]
requests_per_minute = 0
daily_tokens = 0
daily_images = 0
queue_depth = 256
notify_wait_seconds = 3600
[discord]
api_url = "{api}"
sync_commands = "guild"
"""


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(first: list[float], final: list[float], wall: float) -> dict[str, Any]:
    return {
        "first_p50_s": statistics.median(first),
        "first_p95_s": _percentile(first, 0.95),
        "final_p50_s": statistics.median(final),
        "final_p95_s": _percentile(final, 0.95),
        "wall_s": wall,
        "per_minute": len(final) / wall * 60,
    }


class _Run:
    """The stand-in, the `muse run` process, and what it stored."""

    def __init__(self, standin: DiscordStandin, db: Path) -> None:
        self.standin = standin
        self.db = db

    def assistant_rows(self) -> int:
        try:
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=1) as con:
                row = con.execute("SELECT count(*) FROM messages WHERE role = 'assistant'")
                (n,) = row.fetchone()
        except sqlite3.Error:  # not created yet, or busy for a moment: ask again
            return 0
        return int(n)

    async def until(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"platform bench: no {what} within {TIMEOUT:.0f} s")
            await asyncio.sleep(0.02)

    def writes(self, channel: int, since: float) -> list[float]:
        """When the bot wrote to a channel (message POSTs and edits) since `since`, in order."""
        path = rf"/channels/{channel}/messages(/\d+)?"
        calls = self.standin.calls(None, path)
        return [c.at for c in calls if c.method in ("POST", "PATCH") and c.at >= since]

    async def mentions(self, channels: list[int], together: bool) -> dict[str, Any]:
        first: list[float] = []
        final: list[float] = []
        start = time.monotonic()

        async def one(channel: int, user: dict[str, Any]) -> None:
            stored = self.assistant_rows()
            sent = time.monotonic()
            text = f"<@{p.BOT_USER_ID}> tell me a story about channel {channel}"
            await self.standin.send_user_message(channel, text, author=user)
            if not together:
                await self.until(lambda: self.assistant_rows() > stored, "reply")
                writes = self.writes(channel, sent)
                first.append(writes[0] - sent)
                final.append(writes[-1] - sent)

        users = [p._user(1_500_000_000_000_000_000 + i, f"u{i}", f"User {i}") for i in range(32)]
        if together:
            before = self.assistant_rows()
            sent = time.monotonic()
            await asyncio.gather(*(one(c, u) for c, u in zip(channels, users, strict=False)))
            await self.until(lambda: self.assistant_rows() >= before + len(channels), "replies")
            for c in channels:
                writes = self.writes(c, sent)
                first.append(writes[0] - sent)
                final.append(writes[-1] - sent)
        else:
            for c, u in zip(channels, users, strict=False):
                await one(c, u)
        return _summary(first, final, time.monotonic() - start)

    async def imagines(self, channels: list[int], together: bool) -> dict[str, Any]:
        done: list[float] = []
        start = time.monotonic()

        async def one(channel: int, i: int) -> None:
            sent = time.monotonic()
            options = {"prompt": f"a lighthouse at dawn, take {i}", "seed": i}
            record = await self.standin.slash("imagine", options, channel_id=channel)
            await self.until(
                lambda: any(m.get("attachments") for m in self.standin.answers(record)), "picture"
            )
            done.append(time.monotonic() - sent)

        if together:
            await asyncio.gather(*(one(c, i) for i, c in enumerate(channels)))
        else:
            for i, c in enumerate(channels):
                await one(c, i)
        return _summary(done, done, time.monotonic() - start)


def _add_channels(standin: DiscordStandin, count: int) -> list[int]:
    ids = [FIRST_CHANNEL + i for i in range(count)]
    for i, cid in enumerate(ids):
        channel = p.text_channel(cid, f"bench-{i}", 10 + i)
        standin.guild["channels"].append(channel)
        standin.channels[cid] = channel
    return ids


async def platform_bench(text_model: str, image_model: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="muse-bench-") as tmp:
        standin = DiscordStandin()
        channels = _add_channels(standin, MENTIONS)
        async with standin:
            config = Path(tmp) / "muse.toml"
            config.write_text(
                CONFIG.format(
                    text=text_model, image=image_model, new=NEW_TOKENS, api=standin.api_url
                ),
                encoding="utf-8",
            )
            db = Path(tmp) / "muse.db"
            env = {**os.environ, "DISCORD_TOKEN": p.TOKEN, "HF_HUB_OFFLINE": "1"}
            spawned = time.monotonic()
            args = ["-m", "bot.cli", "run", "--config", str(config), "--db", str(db)]
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                *args,
                env=env,
                cwd=tmp,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                await standin.wait_ready(timeout=TIMEOUT)
                ready_s = time.monotonic() - spawned
                run = _Run(standin, db)
                await run.until(lambda: _synced(standin, "imagine"), "synced /imagine")
                # Warm-up, not measured: first-call allocations on both engines.
                await run.mentions(channels[:1], together=False)
                await run.imagines(channels[:1], together=False)
                figures = {
                    "ready_s": ready_s,
                    "mentions_together": await run.mentions(channels, together=True),
                    "mentions_one_by_one": await run.mentions(channels, together=False),
                    "images_together": await run.imagines(channels[:IMAGES], together=True),
                    "images_one_by_one": await run.imagines(channels[:IMAGES], together=False),
                }
            finally:
                if proc.returncode is None:
                    proc.terminate()
                try:
                    _, err = await asyncio.wait_for(proc.communicate(), 30)
                except TimeoutError:
                    proc.kill()
                    _, err = await proc.communicate()
            if proc.returncode != 0:
                tail = err.decode(errors="replace")[-2000:]
                raise RuntimeError(f"muse run exited {proc.returncode}:\n{tail}")
    figures |= {"mentions": MENTIONS, "images": IMAGES, "new_tokens": NEW_TOKENS}
    for kind in ("mentions", "images"):
        together, serial = figures[f"{kind}_together"], figures[f"{kind}_one_by_one"]
        figures[f"{kind}_throughput_ratio"] = together["per_minute"] / serial["per_minute"]
    return figures


def _synced(standin: DiscordStandin, name: str) -> bool:
    try:
        standin.synced_command(name, p.GUILD_ID)
    except LookupError:
        return False
    return True
