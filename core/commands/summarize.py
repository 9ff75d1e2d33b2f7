"""/summarize [thread | last N hours]: summarise what was said, read from the platform.

The history is read through the adapter's ChannelHistory (core/chat/history.py), so it
covers what was said while Muse was not listening; the text engine writes the summary.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from core.chat.history import PastMessage
from core.chat.prompt import Prompt, count_tokens
from core.chat.scope import channel_key
from core.chat.summaries import summary_ids, summary_messages
from core.commands.registry import CommandContext, CommandRegistry
from core.errors import OptionError, UserError
from core.text.request import GenerationSettings

__all__ = ["MAX_HOURS", "Window", "parse_window", "register", "summarize_command"]

USAGE = "[thread | last N hours]"
DEFAULT_HOURS = 24
MAX_HOURS = 168  # a week: Discord's option range says the same
_HOURS = re.compile(r"^(?:last\s+)?(\d+)\s*(?:h|hr|hrs|hour|hours)?$")
EMPTY = "(no summary: the model ended before writing anything)"


@dataclass(frozen=True)
class Window:
    thread: str | None  # a thread's id, or None for the channel's top level
    hours: int | None  # None: the whole thread


def parse_window(args: str, thread: str | None, max_hours: int) -> Window:
    """'' -> this thread (in one) or the channel's last day; 'thread'; 'last N hours'."""
    text = " ".join(args.strip().lower().split())
    if not text:
        return Window(thread, None) if thread else Window(None, min(DEFAULT_HOURS, max_hours))
    if text == "thread":
        if not thread:
            raise OptionError("/summarize thread works inside a thread; here, try last N hours.")
        return Window(thread, None)
    match = _HOURS.match(text)
    if match is None:
        raise OptionError(f"/summarize takes {USAGE}, e.g. /summarize last 6 hours.")
    hours = int(match[1])
    if not 1 <= hours <= max_hours:
        raise OptionError(f"/summarize can look back 1 to {max_hours} hours, not {hours}.")
    return Window(None, hours)


def newest_that_fit(tokenizer: object, lines: list[str], room: int) -> list[str]:
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        used += count_tokens(tokenizer, line) + 1
        if used > room:
            break
        kept.append(line)
    return kept[::-1]


def line_of(message: PastMessage) -> str:
    return f"{message.author}: {message.text}"


async def summarize_command(ctx: CommandContext, args: str) -> None:
    muse, msg = ctx.muse, ctx.message
    settings = muse.recall.settings
    thread = None if msg.starts_thread else msg.thread
    window = parse_window(args, thread, MAX_HOURS)
    reader = muse.recall.histories.get(msg.platform)
    if reader is None:
        raise UserError("I cannot read this chat's history here, so there is nothing to summarise.")
    since = None if window.hours is None else time.time() - window.hours * 3600
    read = await reader.read(
        msg, thread=window.thread, since=since, limit=settings.summarize_max_messages
    )
    said = [m for m in read if m.text.strip()]
    where = "this thread" if window.thread else f"the last {window.hours} hour(s) here"
    if not said:
        await ctx.reply.send(f"Nothing was said in {where} that I can read.", ephemeral=True)
        return
    engine, text = await muse.text_for(channel_key(msg)), muse.text_settings
    room = text.prompt_tokens - text.max_new_tokens - 96  # instructions and template
    lines = newest_that_fit(engine.tokenizer, [line_of(m) for m in said], max(room, 1))
    words = max(20, text.max_new_tokens * 2 // 3)
    ids = summary_ids(engine.tokenizer, None, lines, words)
    prompt = Prompt(ids, "", len(lines), 0, summary_messages(None, lines, words))
    key = msg.conversation
    async with muse.work(msg, ctx.reply, "text") as ticket:

        async def pieces() -> AsyncIterator[str]:
            gen = GenerationSettings(text.max_new_tokens, 0.0, 1.0)
            wrote = False
            async for piece in engine.generate(prompt, gen, cache_key=None):
                if ticket.started is None:
                    muse.admission.start(ticket)
                wrote = True
                yield piece
            if not wrote:
                yield EMPTY

        await ctx.reply.stream(muse.moderator.filter_stream(pieces(), key))


def register(registry: CommandRegistry) -> None:
    registry.add(
        "summarize",
        summarize_command,
        "summarise this thread, or what was said here in the last N hours",
        usage=USAGE,
    )
