"""Queue depth, places in line, /cancel, per-user rates and daily budgets."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest

from bot.features import register_commands
from core.chat.service import Muse
from core.fair_use.quotas import Quotas, until_reset, utc_day
from core.fair_use.settings import LimitSettings
from core.runtime.device import DeviceArbiter
from core.text.engine import TextEngine
from tests.conftest import BACKENDS
from tests.helpers import RecordingReply, msg, never_ends, tiny_text_settings


def with_limits(muse: Muse, engine: TextEngine | None = None, **changes: Any) -> Muse:
    """A Muse on the same memory built with these [limits] (and engine, with its settings)."""
    backend = engine or muse.text_engine
    core = Muse(
        memory=muse.memory,
        text_engine=backend,
        arbiter=muse.arbiter if engine is None else engine.arbiter,
        text_settings=backend.settings,  # type: ignore[attr-defined]
        limits=LimitSettings(**changes),
    )
    register_commands(core)
    return core


async def test_rate_limit_refusal_says_when_to_retry(muse: Muse) -> None:
    m = with_limits(muse, requests_per_minute=2)
    reply = RecordingReply()
    for _ in range(3):
        await m.handle_message(msg("hi", author="ann"), reply)
    assert reply.sent[-1].startswith("Slow down a little: at most 2 requests a minute.")
    assert "Try again in" in reply.sent[-1] and reply.ephemeral[-1]
    await m.handle_message(msg("hi", author="bob"), reply)  # others are not affected
    assert not reply.sent[-1].startswith("Slow down")


@pytest.mark.parametrize("text_backend", BACKENDS, indirect=True)
async def test_daily_budget_refusal_says_when_it_resets(muse: Muse) -> None:
    m = with_limits(muse, daily_tokens=3, requests_per_minute=0)
    reply = RecordingReply()
    await m.handle_message(msg("hi"), reply)  # uses up to 12 tokens: over budget
    used = await m.quotas._used(utc_day(time.time()), "test:u1", "text")
    assert 3 < used <= 12  # the engine's count (a server's `usage`), not the pieces shown
    await m.handle_message(msg("again"), reply)
    assert reply.last.startswith("You've used today's budget of 3 tokens of replies.")
    assert "resets at 00:00 UTC (in " in reply.last
    # The usage is durable: a new Muse on the same database refuses too.
    m2 = with_limits(muse, daily_tokens=3, requests_per_minute=0)
    await m2.handle_message(msg("and again"), reply)
    assert reply.last.startswith("You've used today's budget")


async def test_admins_unlimited_and_roles_raise_limits(muse: Muse) -> None:
    m = with_limits(muse, requests_per_minute=1, role_multipliers=["test:vip=3"])
    reply = RecordingReply()
    for _ in range(3):
        await m.handle_message(msg("hi", author="boss", platform_admin=True), reply)
    assert not any(s.startswith("Slow down") for s in reply.sent)
    for _ in range(3):
        await m.handle_message(msg("hi", author="v", roles=("vip",)), reply)
    assert not any(s.startswith("Slow down") for s in reply.sent)
    await m.handle_message(msg("hi", author="v", roles=("vip",)), reply)
    assert reply.last.startswith("Slow down a little: at most 3 requests a minute.")


def test_until_reset_text() -> None:
    assert until_reset(86400 * 3 + 3600 * 22 + 60 * 30) == "00:00 UTC (in 1 h 30 min)"


async def test_full_queue_answers_busy_at_once(muse: Muse) -> None:
    m = with_limits(muse, queue_depth=2, requests_per_minute=0)
    m.text_engine.eos_ids = set()
    m.text_settings = m.text_settings.model_copy(update={"max_new_tokens": 30})
    replies = [RecordingReply() for _ in range(5)]
    await asyncio.gather(
        *(m.handle_message(msg("hi", author=f"u{i}"), r) for i, r in enumerate(replies))
    )
    busy = [r for r in replies if r.last.startswith("I'm busy right now (2 requests in line)")]
    assert len(busy) == 3
    assert m.admission.busy_refusals == 3
    stored = await m.memory.recent(msg("").conversation, 100)
    assert sum(1 for s in stored if s.role == "user") == 2  # refused requests stored nothing


async def test_place_in_line_is_reported(muse: Muse, tiny_text_dir: Path) -> None:
    # One reply at a time, set where it is read: the engine's and the queue's construction.
    one_at_a_time = tiny_text_settings(tiny_text_dir, max_batch_size=1)
    engine = TextEngine(one_at_a_time, DeviceArbiter())
    await engine.load()
    try:
        m = with_limits(muse, engine, notify_wait_seconds=0.0, requests_per_minute=0)
        assert m.admission.concurrency["text"] == 1
        engine.eos_ids = set()  # every reply runs its full length
        replies = [RecordingReply() for _ in range(3)]
        most_running = 0

        async def watch() -> None:
            nonlocal most_running
            while True:
                most_running = max(most_running, engine.running)
                await asyncio.sleep(0.005)

        watcher = asyncio.create_task(watch())
        await asyncio.gather(
            *(m.handle_message(msg("hi", author=f"u{i}"), r) for i, r in enumerate(replies))
        )
        watcher.cancel()
        assert most_running == 1  # the engine really served them one at a time
        assert replies[2].statuses and replies[2].statuses[0].startswith("You're #")
        assert " in line — about " in replies[2].statuses[0]
        assert not replies[0].statuses
    finally:
        await engine.arbiter.close()


@pytest.mark.parametrize("text_backend", BACKENDS, indirect=True)
async def test_cancel_stops_a_running_reply(muse: Muse) -> None:
    m = with_limits(muse, requests_per_minute=0)
    never_ends(m.text_engine)
    m.text_settings = m.text_settings.model_copy(update={"max_new_tokens": 5000})
    reply = RecordingReply()
    task = asyncio.create_task(m.handle_message(msg("write a lot", author="ann"), reply))
    for _ in range(3000):  # until the reply is being generated
        if m.text_engine.running:
            break
        await asyncio.sleep(0.01)
    other = RecordingReply()
    await m.run_command("cancel", msg("", author="ann"), other)
    assert other.last == "Cancelling 1 request(s) of yours."
    await asyncio.wait_for(task, 30)
    assert reply.last == "Cancelled."
    for _ in range(50):
        if m.text_engine.running == 0:
            break
        await asyncio.sleep(0.01)
    assert m.text_engine.running == 0  # the GPU work was freed
    stored = await m.memory.recent(msg("").conversation)
    assert [s.role for s in stored] == ["user"]  # no partial reply stored as complete
    await m.run_command("cancel", msg("", author="ann"), other)
    assert other.last == "You have nothing to cancel."


@pytest.mark.parametrize("bad", [["vip=3"], ["discord:1=lots"]])
def test_role_multiplier_format_checked(bad: list[str]) -> None:
    from core.fair_use.settings import parse_role_multipliers

    with pytest.raises(ValueError, match="platform:role=factor"):
        parse_role_multipliers(bad)


def test_user_key_includes_platform() -> None:
    assert Quotas.user_key(msg("", author="1")) == "test:1"


def test_allowed_channels_hold_on_every_platform_but_not_in_dms() -> None:
    from core.fair_use.policy import Policy
    from core.fair_use.settings import PolicySettings

    policy = Policy(PolicySettings(allowed_channels=["test:c1"], blocked_users=["test:bad"]))
    assert policy.allowed_here(msg("", channel="c1", thread="t9"))  # a thread of c1
    assert not policy.allowed_here(msg("", channel="c2"))
    assert not policy.allowed_here(dataclasses.replace(msg("", channel="c1"), platform="slack"))
    assert policy.allowed_here(msg("", channel="d1", is_dm=True))
    assert not policy.may_talk(msg("", channel="c1", author="bad"))
    assert policy.allowed_here(msg("", channel="c1", author="bad"))  # blocked is another rule
    assert Policy(PolicySettings()).allowed_here(msg("", channel="anywhere"))
