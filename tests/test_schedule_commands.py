"""/schedule add | list | remove | run-now, and [[schedules]] in the config file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from core.chat.events import Message
from core.chat.reply import Target
from core.chat.service import Muse
from core.schedule.cron import UTC
from core.schedule.scheduler import Scheduler
from core.schedule.settings import ScheduleEntry
from tests.helpers import RecordingReply, msg, with_scheduler
from tests.schedule_fakes import FakeClock, RecordingOutbound

NOW = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)  # Monday, 07:30 in Paris


@pytest.fixture
def scheduler(muse: Muse, outbound: RecordingOutbound) -> Scheduler:
    return with_scheduler(muse, clock=FakeClock(NOW))


async def admin(muse: Muse, args: str, channel: str = "c1", **kw: object) -> RecordingReply:
    reply = RecordingReply()
    await muse.run_command("schedule", msg(args, channel=channel, platform_admin=True, **kw), reply)
    return reply


async def test_add_list_run_now_remove(
    muse: Muse, scheduler: Scheduler, outbound: RecordingOutbound
) -> None:
    added = await admin(muse, "add daily 09:00 Europe/Paris text+image x {date}")
    assert added.last == "Image generation is not enabled here, so use kind text."
    added = await admin(muse, "add daily 09:00 Europe/Paris text A short poem about {date}")
    assert added.last == (
        "Schedule #1 added: daily 09:00 Europe/Paris, text. Next post: 2026-03-02 09:00 CET."
    )
    weekdays = await admin(muse, 'add cron "0 9 * * 1-5" America/New_York text Hi {channel}')
    assert weekdays.last.startswith('Schedule #2 added: cron "0 9 * * 1-5" America/New_York')
    (first, second) = await scheduler.store.all()
    assert first.target == Target("test", "c1") and first.created_by == "test:u1"
    assert second.cron == "0 9 * * 1-5"

    listing = (await admin(muse, "list")).last
    assert "#1 daily 09:00 Europe/Paris · text · test:c1 — A short poem about {date}" in listing
    assert "next: 2026-03-02 09:00 CET · last: never" in listing
    assert "next: 2026-03-02 09:00 EST" in listing  # #2, in its own timezone

    ran = await admin(muse, "run-now 1")
    assert ran.last == "Schedule #1 posted." and len(outbound.reply.sent) == 1
    assert "last: 2026-03-02 07:30 CET posted" in (await admin(muse, "list")).last

    assert (await admin(muse, "remove 2")).last == "Schedule #2 removed."
    assert [s.id for s in await scheduler.store.all()] == [1]
    assert (
        await admin(muse, "remove 2")
    ).last == "There is no schedule #2 here; see /schedule list."


async def test_add_with_a_persona_and_in_a_thread(muse: Muse, scheduler: Scheduler) -> None:
    reply = await admin(
        muse, "add daily 09:00 UTC text Hi all --persona You are a pirate.", thread="t1"
    )
    assert reply.last.startswith("Schedule #1 added")
    (schedule,) = await scheduler.store.all()
    assert (schedule.prompt, schedule.persona) == ("Hi all", "You are a pirate.")
    assert schedule.target == Target("test", "c1", None, "t1")
    assert (await admin(muse, "add daily 09:00 UTC text Hi --persona")).last == (
        "--persona needs the system prompt after it."
    )


async def test_run_now_reports_the_failure_reason(
    muse: Muse, scheduler: Scheduler, outbound: RecordingOutbound
) -> None:
    await admin(muse, "add daily 09:00 UTC text Hello")
    outbound.fail_times = 1
    assert (await admin(muse, "run-now 1")).last == (
        "Schedule #1 failed: ConnectionError: platform is down"
    )
    assert (
        "failed after 1 attempt(s) (ConnectionError: platform is down)"
        in (await admin(muse, "list")).last
    )


async def test_schedule_is_admin_only(muse: Muse, scheduler: Scheduler) -> None:
    for args in ("add daily 09:00 UTC text hi", "list", "remove 1", "run-now 1"):
        reply = RecordingReply()
        await muse.run_command("schedule", msg(args), reply)
        assert reply.last == "Only admins can use /schedule." and reply.ephemeral[-1]
    assert await scheduler.store.all() == []


async def test_other_workspaces_cannot_see_or_touch_a_schedule(
    muse: Muse, scheduler: Scheduler
) -> None:
    await admin(muse, "add daily 09:00 UTC text hi", workspace="w1")
    assert (await admin(muse, "list", workspace="w2")).last.startswith("No scheduled posts here.")
    assert (await admin(muse, "run-now 1", workspace="w2")).last.startswith(
        "There is no schedule #1"
    )
    assert (await admin(muse, "list", workspace="w1")).last.startswith("#1 daily 09:00 UTC")


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ("add hourly 09:00 UTC text hi", "/schedule add needs 'daily HH:MM' or 'cron"),
        ("add daily 9am UTC text hi", "'9am' is not a time of day; use 24-hour HH:MM"),
        ('add cron "0 9 * *" UTC text hi', "Invalid cron expression '0 9 * *': it needs 5 fields"),
        ('add cron "61 9 * * *" UTC text hi', "Invalid cron expression '61 9 * * *'"),
        ('add cron "0 9 * * 1 UTC text hi', "closing quote is missing"),
        ("add daily 09:00 Mars/Olympus text hi", "Unknown timezone 'Mars/Olympus'"),
        ("add daily 09:00 UTC video hi", "Unknown kind 'video': use text, image or text+image."),
        ("add daily 09:00 UTC text", "The schedule needs a prompt"),
        ("add daily 09:00 UTC text About {today}", "Unknown placeholder {today}"),
        ("add daily 09:00", "needs a timezone"),
        ("remove", "Give the schedule's number"),
        ("frobnicate", "Unknown /schedule action 'frobnicate'"),
    ],
)
async def test_bad_input_gets_a_one_line_error(
    muse: Muse, scheduler: Scheduler, args: str, error: str
) -> None:
    reply = await admin(muse, args)
    assert error in reply.last and "\n" not in reply.last and reply.ephemeral[-1]
    assert await scheduler.store.all() == []


async def test_add_refuses_a_channel_muse_cannot_post_to(muse: Muse, scheduler: Scheduler) -> None:
    reply = await admin(muse, "add daily 09:00 UTC text hi", channel="locked")
    assert reply.last == "Muse cannot post in channel locked."
    del muse.outbounds["test"]
    reply = await admin(muse, "add daily 09:00 UTC text hi")
    assert reply.last == "Muse cannot post on test: no adapter runs for it."
    assert await scheduler.store.all() == []


async def test_config_schedules_cannot_be_removed_from_chat(
    muse: Muse, scheduler: Scheduler
) -> None:
    entry = ScheduleEntry(name="daily-poem", platform="slack", channel="C1", at="09:00", prompt="x")
    await scheduler.reconcile([entry])
    reply = RecordingReply()
    slack_admin = Message("slack", "C1", "U1", "remove 1", platform_admin=True)
    await muse.run_command("schedule", slack_admin, reply)
    assert "comes from the config file ([[schedules]] daily-poem)" in reply.last


def config_problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    return err.value.problems


def entry(**fields: str) -> str:
    base = {"name": "poem", "platform": "slack", "channel": "C1", "at": "09:00", "prompt": "p"}
    base.update(fields)
    return "[[schedules]]\n" + "".join(f'{k} = "{v}"\n' for k, v in base.items() if v != "-")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (entry(cron="0 9 * *", at="-"), "[[schedules]] poem: Invalid cron expression '0 9 * *'"),
        (entry(timezone="Moon/Base"), "[[schedules]] poem: Unknown timezone 'Moon/Base'"),
        (entry(kind="video"), "[schedules[0]] kind = 'video': must be one of 'text',"),
        (entry(at="25:00"), "[[schedules]] poem: '25:00' is not a time of day"),
        (entry(at="-"), "[[schedules]] poem: needs exactly one of at"),
        (entry(cron="0 9 * * *"), "[[schedules]] poem: needs exactly one of at"),
        (entry(name="-"), "[[schedules]] entry 0: needs a name"),
        (entry(channel="-"), "[[schedules]] poem: needs a channel"),
        (entry(prompt="{tomorrow}"), "Unknown placeholder {tomorrow}"),
        (entry(platform="shell", channel="general"), 'the shell has only channel = "local"'),
        (entry() + entry(), "[[schedules]] poem: the name is used twice"),
        (
            "[scheduler]\nretries = 99\n",
            "[scheduler] retries = 99: must be an integer from 0 to 20",
        ),
    ],
)
def test_config_check_rejects_bad_schedules(tmp_path: Path, text: str, expected: str) -> None:
    found = config_problems(tmp_path, text)
    assert any(expected in p for p in found), found


def test_a_good_schedule_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        "[scheduler]\ncatch_up_grace_minutes = 60\n"
        + entry(kind="text+image", timezone="Asia/Shanghai")
        + entry(name="shell", platform="shell", channel="local", cron="0 9 * * 1-5", at="-")
    )
    config = load_config(path)
    assert config.scheduler.catch_up_grace_minutes == 60
    assert [s.to_schedule().cron for s in config.schedules] == ["0 9 * * *", "0 9 * * 1-5"]
