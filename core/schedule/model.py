"""What a scheduled post is: target, time spec, kind, prompt template; and its runs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from apscheduler.triggers.cron import CronTrigger

from core.chat.events import conversation_key
from core.chat.reply import Target
from core.errors import OptionError
from core.schedule.cron import describe_cron, make_trigger, parse_timezone

Kind = Literal["text", "image", "text+image"]
KINDS: tuple[str, ...] = get_args(Kind)
PLACEHOLDERS = ("date", "weekday", "channel", "time")
SOURCES = ("config", "chat")
RUN_STATUSES = ("claimed", "posted", "failed", "missed")
PROMPT_MAX_CHARS = 2000
_PLACEHOLDER = re.compile(r"\{(\w*)\}")


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise OptionError(f"Unknown kind '{kind}': use text, image or text+image.")
    return kind


def check_template(prompt: str) -> str:
    prompt = prompt.strip()
    if not prompt:
        raise OptionError("The schedule needs a prompt, e.g. 'A short poem about {date}'.")
    if len(prompt) > PROMPT_MAX_CHARS:
        raise OptionError(f"A schedule prompt can be at most {PROMPT_MAX_CHARS} characters.")
    for name in _PLACEHOLDER.findall(prompt):
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            raise OptionError(f"Unknown placeholder {{{name}}} in the prompt; use {known}.")
    return prompt


def render_prompt(template: str, local_fire_time: datetime, channel: str) -> str:
    """Fill {date} {weekday} {channel} {time} from the slot's local time."""
    t = local_fire_time
    values = {
        "date": f"{t:%B} {t.day}, {t.year}",
        "weekday": f"{t:%A}",
        "channel": channel,
        "time": f"{t:%H:%M}",
    }
    return _PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), template)


@dataclass(frozen=True)
class Schedule:
    id: int | None
    target: Target
    cron: str  # 5-field crontab; a daily "HH:MM" is stored as "M H * * *"
    timezone: str
    kind: str
    prompt: str  # template with placeholders
    persona: str | None = None  # None: the channel's persona at posting time
    enabled: bool = True
    created_by: str = ""
    source: str = "chat"
    name: str | None = None  # the [[schedules]] name of config-declared schedules
    created_at: float = 0.0
    # Slots before this moment are never caught up (set on creation and on time changes).
    active_since: float = 0.0

    def validate(self) -> None:
        """Raise OptionError for an invalid time spec, timezone, kind or prompt."""
        self.trigger()
        check_kind(self.kind)
        check_template(self.prompt)

    def trigger(self) -> CronTrigger:
        return make_trigger(self.cron, parse_timezone(self.timezone))

    @property
    def conversation(self) -> str:
        t = self.target
        return conversation_key(t.platform, t.workspace, t.channel, t.thread)

    @property
    def wants_text(self) -> bool:
        return self.kind in ("text", "text+image")

    @property
    def wants_image(self) -> bool:
        return self.kind in ("image", "text+image")

    @property
    def when(self) -> str:
        return f"{describe_cron(self.cron)} {self.timezone}"

    @property
    def where(self) -> str:
        t = self.target
        parts = [t.platform, *([t.workspace] if t.workspace else []), t.channel]
        return ":".join(parts) + (f" (thread {t.thread})" if t.thread else "")


@dataclass(frozen=True)
class Run:
    """One slot of one schedule: claimed before posting, then posted, failed or missed."""

    schedule_id: int
    fire_time: int  # the slot, Unix seconds
    status: str
    attempts: int
    last_error: str
    message_id: str | None
    updated_at: float


@dataclass(frozen=True)
class Claim:
    """A slot some process took (`owner`: host:pid:id) and has not finished."""

    schedule_id: int
    fire_time: int
    status: str  # claimed (maybe still posting) or interrupted (stopped while posting)
    claimed_by: str
    updated_at: float
