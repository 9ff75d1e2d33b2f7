"""Slash commands shared with every adapter — /forget, /persona, /stats, /retry, /cancel, /help,
and /schedule when the scheduler runs. Slack hands over the argument text as typed, so
each goes straight to the core command of the same name: parsing, permissions (admins
are "slack:<user id>" in [policy], or workspace admins) and wording stay in the core."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from adapters.slack.context import SlackContext
from adapters.slack.reply import Respond, Where
from adapters.slack.translate import from_command
from core.chat.events import Message

NOT_HERE = "Muse does not answer in direct messages here."
SHARED = ("forget", "persona", "stats", "retry", "cancel", "help", "schedule")


def private(name: str, args: str) -> bool:
    """Answers only the person who asked should see (like Discord's ephemeral ones)."""
    action = args.strip().partition(" ")[0]
    if name in ("stats", "cancel", "help"):
        return True
    if name == "persona":
        return action in ("", "show")
    return name == "schedule" and action in ("list", "run-now")


def register(app: AsyncApp, context: SlackContext) -> None:
    for name in SHARED:
        if context.muse.commands.get(name) is not None:
            app.command(f"/{name}")(_listener(context, name))


def _listener(context: SlackContext, name: str) -> Any:
    async def on_command(ack: Any, command: dict[str, Any], respond: Respond) -> None:
        if str(command.get("channel_id", "")).startswith("D") and not (
            context.settings.respond_to_dms
        ):
            await ack(text=NOT_HERE, response_type="ephemeral")
            return
        await ack()  # within Slack's 3 seconds; the answer follows
        context.spawn(run_core_command(context, name, command, respond), f"/{name}")

    on_command.__name__ = f"on_{name}"
    return on_command


async def command_message(context: SlackContext, command: dict[str, Any]) -> Message:
    person = await context.people.get(str(command.get("user_id", "")))
    return from_command(command, person, str(command.get("text") or ""))


async def run_core_command(
    context: SlackContext, name: str, command: dict[str, Any], respond: Respond
) -> None:
    msg = await command_message(context, command)
    reply = context.reply_in(
        Where(msg.channel, None, user=msg.author_id),
        respond=respond,
        private=private(name, msg.text),
    )
    await context.muse.run_command(name, msg, reply)
