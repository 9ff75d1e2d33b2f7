"""Scheduled posts: exactly once per slot (double start, restart), catch-up, retries, the post."""

from __future__ import annotations

import asyncio
import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from adapters.shell import REPLY_PREFIX, ShellAdapter
from bot.features import register_commands
from core.chat.prompt import Prompt, Turn, build_prompt
from core.chat.reply import Target
from core.chat.service import Muse
from core.errors import UserError
from core.image.engine import ImageEngine
from core.image.options import ImageSettings
from core.memory.store import Memory
from core.schedule.cron import UTC
from core.schedule.model import Schedule
from core.schedule.scheduler import Scheduler
from core.schedule.settings import ScheduleEntry, SchedulerSettings
from core.schedule.store import ScheduleStore
from core.text.engine import TextEngine
from tests.conftest_image import *  # noqa: F403  (tiny_image_dir, image_settings, image_engine)
from tests.helpers import RecordingReply, msg, with_scheduler
from tests.schedule_fakes import FakeClock, RecordingOutbound, Sleeps

# Monday 2026-03-02, 09:00 in Paris (UTC+1) is 08:00 UTC.
SLOT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CREATED = (SLOT - timedelta(days=3)).timestamp()


def daily(channel: str = "c1", kind: str = "text", **kw: object) -> Schedule:
    return Schedule(
        id=None,
        target=Target("test", channel),
        cron="0 9 * * *",
        timezone="Europe/Paris",
        kind=kind,
        prompt="A short poem about {date}, a {weekday}, for {channel}",
        **kw,  # type: ignore[arg-type]
    )


def settings(**kw: object) -> SchedulerSettings:
    return SchedulerSettings(**{"retry_backoff_seconds": 5.0, **kw})  # type: ignore[arg-type]


@pytest.fixture
async def stored(muse: Muse) -> Schedule:
    """A daily schedule created three days before SLOT."""
    store = ScheduleStore(muse.memory.connection)
    return await store.add(daily(created_at=CREATED, active_since=CREATED))


@pytest.fixture
async def second_muse(
    tmp_path: Path, text_engine: TextEngine, muse: Muse, outbound: RecordingOutbound
) -> AsyncIterator[Muse]:
    """Another Muse on the same database file: a second process started by mistake."""
    memory = await Memory.open(tmp_path / "muse.db")
    other = Muse(
        memory=memory,
        text_engine=text_engine,
        arbiter=text_engine.arbiter,
        text_settings=muse.text_settings,
    )
    register_commands(other)
    other.outbounds["test"] = outbound
    yield other
    await memory.close()


async def test_a_slot_posts_with_the_rendered_prompt_and_is_remembered(
    muse: Muse, outbound: RecordingOutbound, stored: Schedule, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str]] = []

    def spy(tokenizer: object, system: str, history: list, new: Turn, *rest: int) -> Prompt:
        seen.append((system, new.content))
        return build_prompt(tokenizer, system, history, new, *rest)

    monkeypatch.setattr("core.schedule.post.build_prompt", spy)
    outcome = await Scheduler(muse, settings()).fire(stored, SLOT)
    assert outcome.status == "posted"
    assert len(outbound.reply.sent) == 1 and outbound.reply.sent[0]
    # The channel's (default) persona and the template filled from the slot's Paris time.
    persona = muse.text_settings.system_prompt
    assert seen == [(persona, "A short poem about March 2, 2026, a Monday, for #c1")]
    remembered = await muse.memory.recent(stored.conversation)
    assert [(m.role, m.content) for m in remembered] == [("assistant", outbound.reply.sent[0])]
    assert remembered[0].platform_message_id == outcome.message_id


async def test_the_same_slot_never_posts_twice(
    muse: Muse, outbound: RecordingOutbound, stored: Schedule
) -> None:
    scheduler = Scheduler(muse, settings())
    first, again = await asyncio.gather(scheduler.fire(stored, SLOT), scheduler.fire(stored, SLOT))
    assert sorted([first.status, again.status]) == ["duplicate", "posted"]
    assert (await scheduler.fire(stored, SLOT)).status == "duplicate"
    assert len(outbound.reply.sent) == 1


async def test_two_processes_on_one_database_post_a_slot_once(
    muse: Muse, second_muse: Muse, outbound: RecordingOutbound, stored: Schedule
) -> None:
    clock = FakeClock(SLOT + timedelta(minutes=20))
    a = Scheduler(muse, settings(), clock=clock)
    b = Scheduler(second_muse, settings(), clock=clock)
    assert a.store.db is not b.store.db  # two connections, like two processes
    try:
        await asyncio.gather(a.start(), b.start())  # both catch up the same missed slot
        await asyncio.gather(a.wait_idle(), b.wait_idle())
        outcomes = await asyncio.gather(a.fire(stored, SLOT), b.fire(stored, SLOT))
    finally:
        await asyncio.gather(a.stop(), b.stop())
    assert [o.status for o in outcomes] == ["duplicate", "duplicate"]
    assert len(outbound.reply.sent) == 1
    runs = await a.store.runs(stored.id or 0)
    assert [(r.fire_time, r.status) for r in runs] == [(int(SLOT.timestamp()), "posted")]


async def test_a_restart_does_not_post_a_posted_slot_again(
    tmp_path: Path, muse: Muse, second_muse: Muse, outbound: RecordingOutbound, stored: Schedule
) -> None:
    clock = FakeClock(SLOT + timedelta(seconds=1))
    first = Scheduler(muse, settings(), clock=clock)
    await first.start()
    await first.wait_idle()
    await first.stop()
    assert len(outbound.reply.sent) == 1
    clock.advance(minutes=30)  # restarted half an hour later, still within grace
    restarted = Scheduler(second_muse, settings(), clock=clock)
    await restarted.start()
    await restarted.wait_idle()
    await restarted.stop()
    assert len(outbound.reply.sent) == 1


async def test_catch_up_within_grace_posts_only_the_latest_slot(
    muse: Muse, outbound: RecordingOutbound, stored: Schedule
) -> None:
    # Down for three days: slots on 02-27, 02-28, 03-01 and 03-02 were all missed.
    clock = FakeClock(SLOT + timedelta(hours=2))
    scheduler = Scheduler(muse, settings(catch_up_grace_minutes=180), clock=clock)
    await scheduler.start()
    await scheduler.wait_idle()
    await scheduler.stop()
    assert len(outbound.reply.sent) == 1
    runs = await scheduler.store.runs(stored.id or 0)
    assert [(r.fire_time, r.status) for r in runs] == [(int(SLOT.timestamp()), "posted")]


async def test_catch_up_beyond_grace_records_missed_without_posting(
    muse: Muse, outbound: RecordingOutbound, stored: Schedule
) -> None:
    clock = FakeClock(SLOT + timedelta(hours=5))
    scheduler = Scheduler(muse, settings(catch_up_grace_minutes=180), clock=clock)
    await scheduler.start()
    await scheduler.wait_idle()
    await scheduler.stop()
    assert outbound.reply.sent == []
    runs = await scheduler.store.runs(stored.id or 0)
    assert [(r.fire_time, r.status) for r in runs] == [(int(SLOT.timestamp()), "missed")]
    # A second start does not record it again, nor post it.
    again = Scheduler(muse, settings(), clock=clock)
    await again.start()
    await again.wait_idle()
    await again.stop()
    assert len(await again.store.runs(stored.id or 0)) == 1 and outbound.reply.sent == []


async def test_no_catch_up_for_slots_before_the_schedule_existed(
    muse: Muse, outbound: RecordingOutbound
) -> None:
    store = ScheduleStore(muse.memory.connection)
    made_after_slot = (SLOT + timedelta(minutes=5)).timestamp()
    schedule = await store.add(daily(created_at=made_after_slot, active_since=made_after_slot))
    scheduler = Scheduler(muse, settings(), clock=FakeClock(SLOT + timedelta(minutes=10)))
    await scheduler.start()
    await scheduler.wait_idle()
    await scheduler.stop()
    assert outbound.reply.sent == [] and await store.runs(schedule.id or 0) == []


async def test_a_failing_post_is_retried_with_backoff_then_posts_once(
    muse: Muse, outbound: RecordingOutbound, stored: Schedule
) -> None:
    outbound.fail_times = 2
    sleeps = Sleeps()
    scheduler = Scheduler(muse, settings(retries=3), sleep=sleeps)
    outcome = await scheduler.fire(stored, SLOT)
    assert outcome.status == "posted"
    assert sleeps.waits == [5.0, 10.0]
    assert len(outbound.reply.sent) == 1
    run = await scheduler.store.last_run(stored.id or 0)
    assert run is not None and (run.status, run.attempts) == ("posted", 3)


async def test_retries_are_bounded_then_failed_with_the_reason(
    muse: Muse, outbound: RecordingOutbound, stored: Schedule
) -> None:
    outbound.fail_times = 99
    sleeps = Sleeps()
    scheduler = Scheduler(muse, settings(retries=2), sleep=sleeps)
    outcome = await scheduler.fire(stored, SLOT)
    assert outcome.status == "failed"
    assert outbound.opened == 3 and outbound.reply.sent == []
    assert sleeps.waits == [5.0, 10.0]
    run = await scheduler.store.last_run(stored.id or 0)
    assert run is not None
    assert (run.status, run.attempts) == ("failed", 3)
    assert run.last_error == "ConnectionError: platform is down"
    assert (await scheduler.fire(stored, SLOT)).status == "duplicate"  # no second go later


async def test_a_refusal_is_not_retried(
    muse: Muse, outbound: RecordingOutbound, stored: Schedule
) -> None:
    outbound.fail_times, outbound.error = 1, UserError("Muse was removed from this channel.")
    sleeps = Sleeps()
    outcome = await Scheduler(muse, settings(), sleep=sleeps).fire(stored, SLOT)
    assert outcome.status == "failed" and sleeps.waits == []
    assert outcome.error == "UserError: Muse was removed from this channel."


async def test_a_missing_adapter_is_retried(muse: Muse, stored: Schedule) -> None:
    sleeps = Sleeps()
    outcome = await Scheduler(muse, settings(retries=1), sleep=sleeps).fire(stored, SLOT)
    assert outcome.status == "failed" and sleeps.waits == [5.0]
    assert "no test adapter is running" in outcome.error


def saved_pngs(folder: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in folder.glob("muse-schedule-*.png")]


async def test_text_and_image_post_through_the_shell_with_the_image_engine(
    muse: Muse, image_engine: ImageEngine, image_settings: ImageSettings, tmp_path: Path
) -> None:
    painter = Muse(
        memory=muse.memory,
        text_engine=muse.text_engine,
        arbiter=muse.arbiter,
        text_settings=muse.text_settings,
        image_engine=image_engine,
        image_settings=image_settings,
    )
    register_commands(painter)
    out = io.StringIO()
    shell = ShellAdapter(painter, stdin=io.StringIO(""), stdout=out, image_dir=tmp_path)
    scheduler = with_scheduler(painter, settings=settings())
    await shell.handle_line("/schedule add daily 09:00 Europe/Paris text+image A fox on {date}")
    (schedule,) = await scheduler.store.all()
    assert (await scheduler.fire(schedule, SLOT)).status == "posted"
    ((png, data),) = saved_pngs(tmp_path)
    assert png.name == f"muse-schedule-{schedule.id}-20260302-0900.png"
    assert data.startswith(b"\x89PNG")
    assert str(png.resolve()) in out.getvalue()  # the shell printed the caption and the file
    (post,) = await painter.memory.recent("shell:-:local")
    assert post.content.endswith("[posted an image of: A fox on March 2, 2026]")
    caption = post.content.removesuffix("\n[posted an image of: A fox on March 2, 2026]")
    assert caption and f"{REPLY_PREFIX}{caption}" in out.getvalue()


async def test_apscheduler_fires_the_job_and_it_posts(
    muse: Muse, outbound: RecordingOutbound
) -> None:
    """The real AsyncIOScheduler: an every-minute job, moved to fire in a moment."""
    scheduler = Scheduler(muse, settings())
    await scheduler.start()
    try:
        schedule = await scheduler.add(replace(daily(), cron="* * * * *"))
        aps = scheduler._aps
        assert aps is not None
        job = aps.get_job(f"schedule-{schedule.id}")
        assert job.next_run_time == scheduler.next_run(schedule)
        posted = asyncio.Event()
        sent = outbound.reply.send

        async def send(text: str, *, ephemeral: bool = False):  # type: ignore[no-untyped-def]
            result = await sent(text, ephemeral=ephemeral)
            posted.set()
            return result

        outbound.reply.send = send  # type: ignore[method-assign]
        job.modify(next_run_time=datetime.now(UTC) + timedelta(milliseconds=200))
        await asyncio.wait_for(posted.wait(), 60)
        await scheduler.wait_idle()
    finally:
        await scheduler.stop()
    runs = await scheduler.store.runs(schedule.id or 0)
    assert [r.status for r in runs] == ["posted"]
    # The slot is the schedule's own minute boundary, not "whenever the job ran".
    assert runs[0].fire_time % 60 == 0 and runs[0].fire_time <= time.time()


async def test_end_to_end_through_the_shell_adapter(muse: Muse, tmp_path: Path) -> None:
    out = io.StringIO()
    shell = ShellAdapter(muse, stdin=io.StringIO(""), stdout=out, image_dir=tmp_path)
    clock = FakeClock(SLOT + timedelta(minutes=1))
    scheduler = with_scheduler(muse, settings=settings(), clock=clock)
    await shell.handle_line('/schedule add cron "0 9 * * 1-5" Europe/Paris text Hello {channel}')
    assert "Schedule #1 added" in out.getvalue()
    (schedule,) = await scheduler.store.all()
    assert schedule.target == Target("shell", "local")
    outcome = await scheduler.fire(schedule, SLOT)
    assert outcome.status == "posted"
    (post,) = [m for m in await muse.memory.recent("shell:-:local") if m.role == "assistant"]
    assert f"{REPLY_PREFIX}{post.content}\n" in out.getvalue()
    await shell.handle_line("/schedule list")
    listing = out.getvalue()
    assert '#1 cron "0 9 * * 1-5" Europe/Paris · text · shell:local' in listing
    assert "last: 2026-03-02 09:00 CET posted" in listing


async def test_config_schedules_are_reconciled_and_chat_ones_left_alone(
    muse: Muse, outbound: RecordingOutbound
) -> None:
    store = ScheduleStore(muse.memory.connection)
    chat_made = await store.add(daily(created_by="test:u1"))
    morning = ScheduleEntry(
        name="morning", platform="slack", channel="C1", at="08:00", prompt="Good morning"
    )
    old = ScheduleEntry(name="old", platform="slack", channel="C1", at="10:00", prompt="Old")
    await Scheduler(muse, settings()).reconcile([morning, old])
    by_name = {s.name: s for s in await store.all()}
    assert by_name["morning"].cron == "0 8 * * *" and by_name["morning"].source == "config"
    first_id = by_name["morning"].id

    morning.at, morning.prompt = "07:30", "Good morning, {channel}"
    await Scheduler(muse, settings()).reconcile([morning])  # "old" removed from the config
    after = {s.name: s for s in await store.all()}
    assert after["morning"].id == first_id  # updated in place: its history stays
    assert (after["morning"].cron, after["morning"].prompt) == ("30 7 * * *", morning.prompt)
    assert not after["old"].enabled and after["morning"].enabled
    assert after[None] == chat_made  # untouched


# -- claims left behind by a process that died or stopped ---------------------------------


def dead_owner() -> str:
    """A claim owner on this host whose process has exited."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return f"{socket.gethostname()}:{int(done.stdout)}:gone"


async def claim_as(store: ScheduleStore, schedule: Schedule, owner: str) -> None:
    assert await store.claim(schedule.id or 0, int(SLOT.timestamp()), owner)


async def start_and_stop(scheduler: Scheduler) -> None:
    await scheduler.start()
    await scheduler.wait_idle()
    await scheduler.stop()


async def test_a_slot_claimed_by_a_killed_process_is_posted_once_on_restart(
    muse: Muse, second_muse: Muse, outbound: RecordingOutbound, stored: Schedule
) -> None:
    store = ScheduleStore(muse.memory.connection)
    await claim_as(store, stored, dead_owner())  # kill -9 right after the claim
    clock = FakeClock(SLOT + timedelta(minutes=2))
    a = Scheduler(muse, settings(), clock=clock)
    b = Scheduler(second_muse, settings(), clock=clock)  # two restarts race for it
    await asyncio.gather(start_and_stop(a), start_and_stop(b))
    assert len(outbound.reply.sent) == 1
    runs = await store.runs(stored.id or 0)
    assert [(r.fire_time, r.status) for r in runs] == [(int(SLOT.timestamp()), "posted")]


async def test_a_slot_claimed_by_a_killed_process_past_grace_is_recorded_missed(
    muse: Muse, outbound: RecordingOutbound, stored: Schedule
) -> None:
    store = ScheduleStore(muse.memory.connection)
    await claim_as(store, stored, dead_owner())
    clock = FakeClock(SLOT + timedelta(hours=5))
    scheduler = with_scheduler(muse, settings=settings(catch_up_grace_minutes=180), clock=clock)
    await start_and_stop(scheduler)
    assert outbound.reply.sent == []
    (run,) = await store.runs(stored.id or 0)
    assert run.status == "missed" and "stopped while posting" in run.last_error
    listing = RecordingReply()
    await muse.run_command("schedule", msg("list", platform_admin=True), listing)
    assert "missed (interrupted: Muse stopped while posting" in listing.last


async def test_a_claim_of_a_live_process_is_left_alone(
    muse: Muse, outbound: RecordingOutbound, stored: Schedule
) -> None:
    store = ScheduleStore(muse.memory.connection)
    await claim_as(store, stored, f"{socket.gethostname()}:{os.getpid()}:other")
    await start_and_stop(Scheduler(muse, settings(), clock=FakeClock(SLOT)))
    assert outbound.reply.sent == []
    (run,) = await store.runs(stored.id or 0)
    assert run.status == "claimed"


async def test_a_post_interrupted_by_shutdown_is_posted_on_the_next_start(
    muse: Muse, outbound: RecordingOutbound, stored: Schedule
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    real_open = outbound.open

    async def slow_open(target: Target) -> RecordingReply:
        entered.set()
        await release.wait()  # the platform is slow; shutdown comes first
        return await real_open(target)

    outbound.open = slow_open  # type: ignore[method-assign]
    clock = FakeClock(SLOT + timedelta(seconds=5))
    first = Scheduler(muse, settings(), clock=clock)
    await first.start()
    await asyncio.wait_for(entered.wait(), 30)
    await first.stop()  # SIGTERM while posting
    (run,) = await first.store.runs(stored.id or 0)
    assert run.status == "interrupted" and outbound.reply.sent == []

    outbound.open = real_open  # type: ignore[method-assign]
    clock.advance(seconds=1)  # restarted at 09:00:06: still the 09:00 slot's grace period
    await start_and_stop(Scheduler(muse, settings(), clock=clock))
    assert len(outbound.reply.sent) == 1
    (run,) = await first.store.runs(stored.id or 0)
    assert run.status == "posted"
