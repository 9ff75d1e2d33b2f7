"""Config sections for scheduled posts: [scheduler] and the declarative [[schedules]]."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.chat.reply import Target
from core.errors import OptionError
from core.schedule.cron import daily_cron
from core.schedule.model import KINDS, Schedule


@dataclass
class SchedulerSettings:
    """[scheduler] — how scheduled posts run."""

    enabled: bool = field(
        default=True, metadata={"doc": "run scheduled posts (false: keep them, post nothing)"}
    )
    catch_up_grace_minutes: int = field(
        default=180,
        metadata={
            "doc": "on start, post the latest slot missed while Muse was down if it is at most "
            "this old; older ones are recorded as missed",
            "min": 0,
            "max": 7 * 24 * 60,
        },
    )
    retries: int = field(
        default=3,
        metadata={
            "doc": "retries of a failed post before it is recorded as failed",
            "min": 0,
            "max": 20,
        },
    )
    retry_backoff_seconds: float = field(
        default=30.0,
        metadata={
            "doc": "wait before the first retry; doubles for each further one",
            "min": 0.0,
            "max": 3600.0,
        },
    )


@dataclass
class ScheduleEntry:
    """[[schedules]] — a scheduled post declared in the config (reconciled on start)."""

    name: str = field(default="", metadata={"doc": "unique name; how Muse recognizes it later"})
    platform: str = field(
        default="shell",
        metadata={"doc": "where to post", "choices": ["discord", "slack", "shell"]},
    )
    workspace: str = field(
        default="", metadata={"doc": "Discord server id or Slack team id (empty for the shell)"}
    )
    channel: str = field(default="", metadata={"doc": 'channel id ("local" for the shell)'})
    thread: str = field(default="", metadata={"doc": "thread id / thread_ts, or empty"})
    at: str = field(default="", metadata={"doc": 'daily time "HH:MM" (or give cron)'})
    cron: str = field(
        default="",
        metadata={"doc": 'crontab "minute hour day-of-month month day-of-week" (or give at)'},
    )
    timezone: str = field(default="UTC", metadata={"doc": "IANA timezone, e.g. Europe/Paris"})
    kind: str = field(default="text", metadata={"doc": "what to post", "choices": list(KINDS)})
    prompt: str = field(
        default="",
        metadata={"doc": "prompt template; {date} {weekday} {channel} {time} are filled in"},
    )
    persona: str = field(
        default="", metadata={"doc": "system prompt for this post (empty: the channel's)"}
    )
    enabled: bool = field(default=True, metadata={"doc": "false pauses it"})

    def to_schedule(self) -> Schedule:
        """The schedule this entry declares; OptionError says what is wrong with it."""
        if not self.name.strip():
            raise OptionError("needs a name (it is how Muse matches it across restarts)")
        if not self.channel.strip():
            raise OptionError("needs a channel")
        if bool(self.at) == bool(self.cron):
            raise OptionError('needs exactly one of at = "HH:MM" or cron = "M H DOM MON DOW"')
        schedule = Schedule(
            id=None,
            target=Target(self.platform, self.channel, self.workspace or None, self.thread or None),
            cron=daily_cron(self.at) if self.at else " ".join(self.cron.split()),
            timezone=self.timezone,
            kind=self.kind,
            prompt=self.prompt.strip(),
            persona=self.persona or None,
            enabled=self.enabled,
            created_by="config",
            source="config",
            name=self.name.strip(),
        )
        schedule.validate()
        return schedule


def validate_schedules(entries: list[ScheduleEntry]) -> list[str]:
    problems = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"[[schedules]] {entry.name or f'entry {i}'}"
        try:
            entry.to_schedule()
        except OptionError as exc:
            problems.append(f"{where}: {exc}")
        if entry.name and entry.name in seen:
            problems.append(f"{where}: the name is used twice")
        seen.add(entry.name)
    return problems
