"""Chat: answer the messages addressed to Muse (see triggers) with a streamed reply in
the thread of the message, and keep the others as channel context (never answered).
`@Muse /forget` (any core command) works inside a thread, where Slack's own slash
commands cannot tell which thread they were typed in."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from slack_bolt.async_app import AsyncApp

from adapters.slack import images, regenerate
from adapters.slack.context import SlackContext
from adapters.slack.files import files_of
from adapters.slack.people import Person
from adapters.slack.reply import Where
from adapters.slack.translate import clean_text, from_event, is_dm, reply_thread
from adapters.slack.triggers import decide, from_a_bot
from core.commands.registry import parse_command_line

log = logging.getLogger(__name__)


def register(app: AsyncApp, context: SlackContext) -> None:
    @app.event("app_mention")
    async def on_mention(event: dict[str, Any], body: dict[str, Any]) -> None:
        context.spawn(answer(context, event, body, mention=True), "app_mention")

    # Every message event, whatever its subtype, so Bolt never logs one as unhandled;
    # triggers.decide drops the ones that are not someone talking to Muse.
    @app.event("message")
    async def on_message(event: dict[str, Any], body: dict[str, Any]) -> None:
        context.spawn(answer(context, event, body, mention=False), "message")

    @app.action(regenerate.ACTION_ID)
    async def on_regenerate(ack: Any, body: dict[str, Any]) -> None:
        await ack()  # within Slack's 3 seconds; the new answer follows
        context.spawn(regenerate.on_click(context, body), "regenerate button")


async def _author(context: SlackContext, event: Mapping[str, Any]) -> Person:
    user = event.get("user")
    if user and not from_a_bot(event):
        return await context.people.get(str(user))
    bot = str(event.get("bot_id") or user or "")
    name = (event.get("bot_profile") or {}).get("name") or event.get("username") or bot
    return Person(bot, str(name), is_bot=True)


async def listen(context: SlackContext, event: dict[str, Any], body: dict[str, Any]) -> None:
    """A channel message (`message.channels`) not addressed to Muse: kept as context where
    the channel allows it (core/chat/recall.py), never answered."""
    team = str(body.get("team_id") or event.get("team") or context.me.team_id)
    person = await _author(context, event)
    text = clean_text(str(event.get("text") or ""), context.me.user_id, context.people.names())
    await context.muse.recall.observe(from_event(event, team, person, text))


async def answer(
    context: SlackContext, event: dict[str, Any], body: dict[str, Any], *, mention: bool
) -> None:
    decision = await decide(event, context, mention=mention)
    if not decision:
        log.debug("slack: not answering %s (%s)", event.get("ts"), decision.reason)
        if decision.reason == "not addressed":
            await listen(context, event, body)
        return
    channel, ts = str(event["channel"]), str(event["ts"])
    # A channel message mentioning Muse arrives as app_mention and as message: one answer.
    if not context.seen.claim(f"message:{channel}:{ts}"):
        return
    thread = reply_thread(event)
    if thread is not None and not is_dm(event):
        await context.threads.add(channel, thread, reason=decision.reason)
    team = str(body.get("team_id") or event.get("team") or context.me.team_id)
    person = await _author(context, event)
    text = clean_text(str(event.get("text") or ""), context.me.user_id, context.people.names())
    msg = from_event(event, team, person, text, attachments=files_of(event))
    if msg.author_is_bot and context.settings.respond_to_bots:
        # The core drops bot authors to stop bot-to-bot loops; [slack] respond_to_bots
        # opts in (Muse still never answers itself).
        msg = dataclasses.replace(msg, author_is_bot=False)
    if not msg.text and decision.reason == "thread":
        return  # a file alone in a thread: nothing to read
    where = Where(channel, thread, user=msg.author_id)
    command = parse_command_line(msg.text)
    if command is not None and context.muse.commands.get(command[0]) is not None:
        name, args = command
        if name == "imagine":  # pictures come with their buttons, as from /imagine
            await images.imagine(context, dataclasses.replace(msg, text=args), where)
            return
        reply = context.reply_in(where)
        await context.muse.run_command(name, dataclasses.replace(msg, text=args), reply)
        return
    reply = context.reply_in(where)
    log.debug("slack: answering %s (%s)", ts, decision.reason)
    sent = await context.muse.handle_message(msg, reply)
    await regenerate.offer(context, reply, sent)
