"""Config sections for scheduled posts: [scheduler] and the declarative [[schedules]]."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from core.chat.reply import Target
from core.errors import OptionError
from core.schedule.cron import daily_cron
from core.schedule.model import Kind, Schedule

__all__ = ["ScheduleEntries", "ScheduleEntry", "SchedulerSettings"]


class SchedulerSettings(BaseModel):
    """[scheduler] — how scheduled posts run."""

    model_config = ConfigDict(extra="forbid", strict=True)

    enabled: bool = Field(True, description="run scheduled posts (false: keep them, post nothing)")
    catch_up_grace_minutes: int = Field(
        180,
        ge=0,
        le=7 * 24 * 60,
        description="on start, post the latest slot missed while Muse was down if it is at most "
        "this old; older ones are recorded as missed",
    )
    retries: int = Field(
        3, ge=0, le=20, description="retries of a failed post before it is recorded as failed"
    )
    retry_backoff_seconds: float = Field(
        30.0,
        ge=0.0,
        le=3600.0,
        description="wait before the first retry; doubles for each further one",
    )


class ScheduleEntry(BaseModel):
    """[[schedules]] — a scheduled post declared in the config (reconciled on start)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    label_key: ClassVar[str] = "name"  # what names an entry in config problems

    name: str = Field("", description="unique name; how Muse recognizes it later")
    platform: Literal["discord", "slack", "shell"] = Field("shell", description="where to post")
    workspace: str = Field(
        "", description="Discord server id or Slack team id (empty for the shell)"
    )
    channel: str = Field("", description='channel id ("local" for the shell)')
    thread: str = Field("", description="thread id / thread_ts, or empty")
    at: str = Field("", description='daily time "HH:MM" (or give cron)')
    cron: str = Field(
        "", description='crontab "minute hour day-of-month month day-of-week" (or give at)'
    )
    timezone: str = Field("UTC", description="IANA timezone, e.g. Europe/Paris")
    kind: Kind = Field("text", description="what to post")
    prompt: str = Field(
        "", description="prompt template; {date} {weekday} {channel} {time} are filled in"
    )
    persona: str = Field("", description="system prompt for this post (empty: the channel's)")
    enabled: bool = Field(True, description="false pauses it")

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

    @model_validator(mode="after")
    def _declares_a_schedule(self) -> Self:
        try:
            self.to_schedule()
        except OptionError as exc:
            raise ValueError(str(exc)) from None
        # The shell has one channel; other platforms can only be checked once connected.
        if self.platform == "shell" and (self.channel, self.workspace) != ("local", ""):
            raise ValueError('the shell has only channel = "local"')
        return self


def _unique_names(entries: list[ScheduleEntry]) -> list[ScheduleEntry]:
    names = [e.name for e in entries]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError("\n".join(f"{name}: the name is used twice" for name in twice))
    return entries


ScheduleEntries = Annotated[list[ScheduleEntry], AfterValidator(_unique_names)]
