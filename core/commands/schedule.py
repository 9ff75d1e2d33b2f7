"""/schedule add | list | remove | run-now — scheduled posts for the channel it is used in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from core.chat.reply import Target
from core.commands.registry import CommandContext, CommandRegistry
from core.errors import OptionError
from core.schedule.cron import daily_cron, parse_timezone
from core.schedule.model import Run, Schedule, check_kind, check_template

if TYPE_CHECKING:
    from core.schedule.scheduler import Scheduler

USAGE = (
    "add daily HH:MM TIMEZONE KIND PROMPT [--persona TEXT] | "
    'add cron "M H DOM MON DOW" TIMEZONE KIND PROMPT [--persona TEXT] | '
    "list | remove ID | run-now ID"
)
HELP = (
    "scheduled posts in this channel (admins). KIND is text, image or text+image; "
    "PROMPT may use {date} {weekday} {channel} {time}. "
    "E.g. /schedule add daily 09:00 Asia/Shanghai text+image A short poem about {date}"
)
EXAMPLE = "e.g. /schedule add daily 09:00 Europe/Paris text A haiku about {weekday}"
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’"}  # smart quotes come from phone keyboards


@dataclass(frozen=True)
class AddRequest:
    cron: str
    timezone: str
    kind: str
    prompt: str
    persona: str | None


def _split(text: str) -> tuple[str, str]:
    head, _, rest = text.strip().partition(" ")
    return head, rest.strip()


def _take_cron(text: str) -> tuple[str, str]:
    """A quoted crontab expression, or its 5 bare fields."""
    text = text.strip()
    close = _QUOTES.get(text[:1])
    if close:
        end = text.find(close, 1)
        if end < 0:
            raise OptionError("The cron expression's closing quote is missing.")
        return " ".join(text[1:end].split()), text[end + 1 :].strip()
    fields = text.split(maxsplit=5)
    return " ".join(fields[:5]), fields[5] if len(fields) > 5 else ""


def parse_add(args: str) -> AddRequest:
    """Parse the text after `/schedule add`; OptionError names the first problem."""
    mode, rest = _split(args)
    if mode == "daily":
        when, rest = _split(rest)
        if not when:
            raise OptionError(f"/schedule add daily needs a time, {EXAMPLE}")
        cron = daily_cron(when)
    elif mode == "cron":
        cron, rest = _take_cron(rest)
    else:
        raise OptionError(
            f"/schedule add needs 'daily HH:MM' or 'cron \"M H DOM MON DOW\"'; {EXAMPLE}"
        )
    tz, rest = _split(rest)
    if not tz:
        raise OptionError(f"/schedule add needs a timezone after the time; {EXAMPLE}")
    parse_timezone(tz)
    kind, rest = _split(rest)
    if not kind:
        raise OptionError(f"/schedule add needs a kind (text, image or text+image); {EXAMPLE}")
    check_kind(kind)
    prompt, marker, persona = rest.partition("--persona")
    if marker and not persona.strip():
        raise OptionError("--persona needs the system prompt after it.")
    return AddRequest(cron, tz, kind, check_template(prompt), persona.strip() or None)


def _when(t: datetime | float, tz: str) -> str:
    moment = t if isinstance(t, datetime) else datetime.fromtimestamp(t, parse_timezone(tz))
    return f"{moment.astimezone(parse_timezone(tz)):%Y-%m-%d %H:%M %Z}"


def _result(run: Run | None, tz: str) -> str:
    if run is None:
        return "last: never"
    text = f"last: {_when(run.fire_time, tz)} {run.status}"
    if run.status in ("failed", "claimed") and run.attempts:
        text += f" after {run.attempts} attempt(s)"
    if run.last_error and run.status != "posted":
        text += f" ({run.last_error})"
    return text


def _prompt_preview(prompt: str) -> str:
    return prompt if len(prompt) <= 60 else prompt[:57] + "..."


async def _find(scheduler: Scheduler, ctx: CommandContext, args: str) -> Schedule:
    text = args.strip().lstrip("#")
    if not text.isdigit():
        raise OptionError(
            "Give the schedule's number from /schedule list, e.g. /schedule remove 3."
        )
    schedule = await scheduler.store.get(int(text))
    msg = ctx.message
    # Only schedules of this server/workspace: ids are global, permissions are not.
    if schedule is None or (schedule.target.platform, schedule.target.workspace) != (
        msg.platform,
        msg.workspace,
    ):
        raise OptionError(f"There is no schedule #{text} here; see /schedule list.")
    return schedule


def register(registry: CommandRegistry, scheduler: Scheduler) -> None:
    async def add(ctx: CommandContext, args: str) -> None:
        req = parse_add(args)
        msg = ctx.message
        schedule = await scheduler.add(
            Schedule(
                id=None,
                target=Target(msg.platform, msg.channel, msg.workspace, msg.thread),
                cron=req.cron,
                timezone=req.timezone,
                kind=req.kind,
                prompt=req.prompt,
                persona=req.persona,
                created_by=f"{msg.platform}:{msg.author_id}",
            )
        )
        next_run = scheduler.next_run(schedule)
        when = _when(next_run, schedule.timezone) if next_run else "not scheduled"
        await ctx.reply.send(
            f"Schedule #{schedule.id} added: {schedule.when}, {schedule.kind}. Next post: {when}."
        )

    async def list_(ctx: CommandContext, args: str) -> None:
        msg = ctx.message
        schedules = await scheduler.store.in_space(msg.platform, msg.workspace)
        if not schedules:
            await ctx.reply.send("No scheduled posts here. " + EXAMPLE.capitalize(), ephemeral=True)
            return
        lines = []
        for s in schedules:
            flags = "" if s.enabled else " (disabled)"
            if s.source == "config":
                flags += f" [config: {s.name}]"
            next_run = scheduler.next_run(s)
            last = await scheduler.last_run(s)
            lines.append(
                f"#{s.id} {s.when} · {s.kind} · {s.where}{flags} — {_prompt_preview(s.prompt)}\n"
                f"    next: {_when(next_run, s.timezone) if next_run else '—'} · "
                f"{_result(last, s.timezone)}"
            )
        await ctx.reply.send("\n".join(lines), ephemeral=True)

    async def remove(ctx: CommandContext, args: str) -> None:
        schedule = await _find(scheduler, ctx, args)
        if schedule.source == "config":
            raise OptionError(
                f"Schedule #{schedule.id} comes from the config file ([[schedules]] "
                f"{schedule.name}); remove or disable it there."
            )
        await scheduler.remove(schedule.id or 0)
        await ctx.reply.send(f"Schedule #{schedule.id} removed.")

    async def run_now(ctx: CommandContext, args: str) -> None:
        schedule = await _find(scheduler, ctx, args)
        outcome = await scheduler.run_now(schedule)
        if outcome.status == "posted":
            await ctx.reply.send(f"Schedule #{schedule.id} posted.", ephemeral=True)
        elif outcome.status == "duplicate":
            await ctx.reply.send(f"Schedule #{schedule.id} is posting right now.", ephemeral=True)
        else:
            await ctx.reply.send(f"Schedule #{schedule.id} failed: {outcome.error}", ephemeral=True)

    actions = {"add": add, "list": list_, "remove": remove, "run-now": run_now}

    async def schedule_command(ctx: CommandContext, args: str) -> None:
        action, rest = _split(args)
        handler = actions.get(action.lower() or "list")
        if handler is None:
            raise OptionError(
                f"Unknown /schedule action '{action}'; use add, list, remove or run-now."
            )
        await handler(ctx, rest)

    if registry.get("schedule") is None:
        registry.add("schedule", schedule_command, HELP, usage=USAGE, admin_only=True)
