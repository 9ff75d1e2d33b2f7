"""Schedule times: crontab / daily "HH:MM" specs -> APScheduler CronTriggers, and fire-time math.

Timezones and DST are APScheduler's job; this module only fixes two crontab mismatches
of APScheduler 3 (weekday numbering, and the day-of-month/day-of-week OR rule) and
walks fire times. A wall-clock time that happens twice when clocks fall back fires once
(the first time), like a fixed-time job in cron.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from core.errors import OptionError

# Crontab weekday numbers: 0 (and 7) = Sunday.
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


def parse_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise OptionError(
            f"Unknown timezone '{name}': use an IANA name such as Europe/Paris, "
            "Asia/Shanghai or UTC."
        ) from None


def daily_cron(hhmm: str) -> str:
    """'09:00' -> '0 9 * * *'."""
    match = _TIME.match(hhmm.strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise OptionError(f"'{hhmm}' is not a time of day; use 24-hour HH:MM, e.g. 09:00.")
    return f"{int(match[2])} {int(match[1])} * * *"


def describe_cron(cron: str) -> str:
    """'0 9 * * *' -> 'daily 09:00'; anything else -> 'cron "…"'."""
    fields = cron.split()
    if len(fields) == 5 and fields[2:] == ["*", "*", "*"] and all(f.isdigit() for f in fields[:2]):
        return f"daily {int(fields[1]):02d}:{int(fields[0]):02d}"
    return f'cron "{cron}"'


def _day(token: str, cron: str) -> int:
    token = token.lower()
    if token in DAYS:
        return DAYS.index(token)
    if token.isdigit() and int(token) <= 7:
        return int(token) % 7
    raise OptionError(f"Invalid cron expression '{cron}': '{token}' is not a day of the week.")


def _weekdays(field: str, cron: str) -> str:
    """A crontab day-of-week field as APScheduler weekday names (its 0 is Monday)."""
    days: set[int] = set()
    for item in field.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise OptionError(f"Invalid cron expression '{cron}': bad step in '{item}'.")
        if base == "*":
            first, last = 0, 6
        elif "-" in base:
            lo, _, hi = base.partition("-")
            first, last = _day(lo, cron), _day(hi, cron)
            last = 7 if last == 0 and first > 0 else last  # "5-7" / "fri-sun" end on Sunday
        else:
            first = last = _day(base, cron)
            if step:
                last = 6
        if last < first:
            raise OptionError(f"Invalid cron expression '{cron}': empty range '{base}'.")
        days.update(d % 7 for d in range(first, last + 1, step or 1))
    if len(days) == 7:
        return "*"
    return ",".join(DAYS[d] for d in sorted(days))


def make_trigger(cron: str, tz: ZoneInfo) -> CronTrigger:
    """A CronTrigger with standard crontab meaning; OptionError says what is wrong."""
    fields = cron.split()
    if len(fields) != 5:
        raise OptionError(
            f"Invalid cron expression '{cron}': it needs 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(fields)}."
        )
    if fields[2] != "*" and fields[4] != "*":
        # Crontab runs when EITHER matches; APScheduler needs BOTH. Refuse the ambiguity.
        raise OptionError(
            f"Invalid cron expression '{cron}': restrict day-of-month or day-of-week, not both."
        )
    fields[4] = _weekdays(fields[4], cron)
    try:
        return CronTrigger.from_crontab(" ".join(fields), timezone=tz)
    except ValueError as exc:
        raise OptionError(f"Invalid cron expression '{cron}': {exc}.") from None


def is_repeated_wall_time(fire: datetime, tz: ZoneInfo) -> bool:
    """True for the second occurrence of a local time when clocks fall back."""
    return fire.astimezone(UTC).astimezone(tz).fold == 1


def fire_times(trigger: CronTrigger, start: datetime) -> Iterator[datetime]:
    """Fire times (UTC) at or after `start`, ascending, without repeated wall-clock times.

    UTC because aware datetimes in a repeated hour never compare equal across zones.
    """
    fire = trigger.get_next_fire_time(None, start)
    while fire is not None:
        if not is_repeated_wall_time(fire, trigger.timezone):
            yield fire.astimezone(UTC)
        fire = trigger.get_next_fire_time(fire, fire)


def next_fire(trigger: CronTrigger, now: datetime) -> datetime | None:
    return next(fire_times(trigger, now), None)


def latest_fire(trigger: CronTrigger, now: datetime, not_before: datetime) -> datetime | None:
    """The last fire time in [not_before, now], or None.

    Searches backwards in doubling windows, so a long downtime costs a few window walks
    rather than a walk over every slot since `not_before`.
    """
    window = timedelta(hours=1)
    while True:
        start = max(now - window, not_before)
        latest = None
        for fire in fire_times(trigger, start):
            if fire > now:
                break
            latest = fire
        if latest is not None or start <= not_before:
            return latest
        window *= 2
