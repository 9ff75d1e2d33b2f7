"""Schedule time math: crontab meaning, DST-safe next runs, latest missed slot."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import islice, pairwise

import pytest

from core.errors import OptionError
from core.schedule.cron import (
    UTC,
    daily_cron,
    describe_cron,
    fire_times,
    latest_fire,
    make_trigger,
    next_fire,
    parse_timezone,
)

NEW_YORK = parse_timezone("America/New_York")
BERLIN = parse_timezone("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_daily_post_keeps_its_local_time_across_spring_forward() -> None:
    trigger = make_trigger(daily_cron("09:00"), NEW_YORK)
    runs = list(islice(fire_times(trigger, utc(2026, 3, 6)), 4))
    assert [r.astimezone(NEW_YORK).hour for r in runs] == [9, 9, 9, 9]
    # EST (UTC-5) before 2026-03-08, EDT (UTC-4) from that day on.
    assert [r.astimezone(UTC).hour for r in runs] == [14, 14, 13, 13]
    assert next_fire(trigger, utc(2026, 3, 7, 15)) == utc(2026, 3, 8, 13)


def test_daily_post_keeps_its_local_time_across_fall_back() -> None:
    trigger = make_trigger("0 9 * * *", NEW_YORK)
    assert next_fire(trigger, utc(2026, 10, 31, 14)) == utc(2026, 11, 1, 14)
    berlin = make_trigger("30 8 * * *", BERLIN)
    # Berlin leaves summer time on 2026-10-25: 08:30 is 06:30 UTC before, 07:30 after.
    assert next_fire(berlin, utc(2026, 10, 24, 7)) == utc(2026, 10, 25, 7, 30)
    assert next_fire(berlin, utc(2026, 10, 23, 12)) == utc(2026, 10, 24, 6, 30)


def test_a_time_that_happens_twice_posts_once() -> None:
    # 01:30 happens twice in New York on 2026-11-01; the daily post must fire once that day.
    trigger = make_trigger("30 1 * * *", NEW_YORK)
    runs = list(islice(fire_times(trigger, utc(2026, 10, 31)), 3))
    local_days = [r.astimezone(NEW_YORK).date().isoformat() for r in runs]
    assert local_days == ["2026-10-31", "2026-11-01", "2026-11-02"]
    assert runs[1] == utc(2026, 11, 1, 5, 30)  # the first 01:30 (EDT)


def test_a_time_skipped_by_spring_forward_still_posts_that_day() -> None:
    trigger = make_trigger("30 2 * * *", NEW_YORK)  # 02:30 does not exist on 2026-03-08
    runs = list(islice(fire_times(trigger, utc(2026, 3, 7)), 3))
    assert [r.astimezone(NEW_YORK).day for r in runs] == [7, 8, 9]
    assert all(b - a >= timedelta(hours=22) for a, b in pairwise(runs))


@pytest.mark.parametrize(
    ("dow", "days"),
    [
        ("1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("0", ["Sun"]),
        ("7", ["Sun"]),
        ("5-7", ["Fri", "Sat", "Sun"]),
        ("sat,sun", ["Sat", "Sun"]),
        ("*/2", ["Sun", "Tue", "Thu", "Sat"]),
    ],
)
def test_weekday_numbers_mean_what_crontab_means(dow: str, days: list[str]) -> None:
    trigger = make_trigger(f"0 9 * * {dow}", BERLIN)
    week = [f for f in islice(fire_times(trigger, utc(2026, 3, 1)), 14) if f < utc(2026, 3, 8)]
    assert sorted(f.strftime("%a") for f in week) == sorted(days)


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("61 9 * * *", "Invalid cron expression '61 9 * * *'"),
        ("0 9 * *", "it needs 5 fields"),
        ("x 9 * * *", 'Unrecognized expression "x"'),
        ("0 9 * * 8", "'8' is not a day of the week"),
        ("0 9 1 * 1", "not both"),
    ],
)
def test_invalid_cron_says_what_is_wrong(cron: str, message: str) -> None:
    with pytest.raises(OptionError, match="Invalid cron expression") as err:
        make_trigger(cron, BERLIN)
    assert message in str(err.value)


def test_time_and_timezone_errors() -> None:
    with pytest.raises(OptionError, match="Unknown timezone 'Mars/Olympus'"):
        parse_timezone("Mars/Olympus")
    for bad in ("25:00", "9", "09:60", "nine"):
        with pytest.raises(OptionError, match="is not a time of day"):
            daily_cron(bad)
    assert daily_cron("7:05") == "5 7 * * *"
    assert describe_cron("5 7 * * *") == "daily 07:05"
    assert describe_cron("0 9 * * 1-5") == 'cron "0 9 * * 1-5"'


def test_latest_fire_finds_only_the_newest_slot_even_after_a_long_gap() -> None:
    trigger = make_trigger("0 9 * * *", BERLIN)
    now = utc(2026, 6, 20, 12)
    assert latest_fire(trigger, now, utc(2026, 1, 1)) == utc(2026, 6, 20, 7)  # 09:00 CEST
    assert latest_fire(trigger, utc(2026, 6, 20, 6), utc(2026, 1, 1)) == utc(2026, 6, 19, 7)
    assert latest_fire(trigger, now, utc(2026, 6, 20, 8)) is None  # nothing since
    weekly = make_trigger("0 9 * * 1", BERLIN)
    assert latest_fire(weekly, now, utc(2026, 1, 1)) == utc(2026, 6, 15, 7)
