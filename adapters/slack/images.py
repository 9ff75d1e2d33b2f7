"""Pictures on Slack, as on Discord: /imagine's pictures are shared in the channel with a
caption that names who asked (their name, never a mention: it pings nobody), and under
them a Block Kit row of buttons, whose meaning is the core's (core.commands.imagine):

- 🎲 reroll: the same options with a new random seed.
- 🔁 variations: more pictures of the same prompt and options, the seeds after these,
  starting from the first shared picture (image-to-image; its URL from files.info).
- 🗑 delete: removes the pictures and the buttons; only whoever asked, or an admin.

Each button's action id names the action and a stored request id
(`muse:img:<action>:<request id>`), and the request (who asked, where, the options with
their seed) lives in SQLite (adapters.common.image_requests), so buttons keep working
after a restart. Pictures made by a button come to the buttons' channel and thread.
Refusals (a bad option, limits, delete by someone else) are seen by the asker alone.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any

from slack_sdk.errors import SlackApiError

from adapters.slack.context import SlackContext
from adapters.slack.reply import Respond, SlackReply, Where
from adapters.slack.translate import from_action
from core.chat.events import Message
from core.commands.imagine import (
    DELETE_REFUSED,
    REQUEST_GONE,
    asked_by,
    may_delete,
    reroll,
    run_imagine,
    variations,
)
from core.commands.registry import CommandContext
from core.image.options import ImagineOptions, parse_imagine_args, with_seed

log = logging.getLogger(__name__)

ACTIONS = {  # action -> (button text, its style)
    "reroll": ("🎲 Reroll", None),
    "vary": ("🔁 Variations", None),
    "delete": ("🗑️ Delete", "danger"),
}
ACTION_ID = re.compile(r"^muse:img:(?P<action>reroll|vary|delete):(?P<request>[0-9]+)$")
BUTTONS_TEXT = "Reroll, variations or delete these pictures"
_FILE, _MESSAGE = "file:", "message:"  # what a request's stored ids are


def action_id(action: str, request_id: int) -> str:
    return f"muse:img:{action}:{request_id}"


def buttons(request_id: int) -> list[dict[str, Any]]:
    """The Block Kit row under one request's pictures."""
    elements: list[dict[str, Any]] = []
    for action, (label, style) in ACTIONS.items():
        button: dict[str, Any] = {
            "type": "button",
            "action_id": action_id(action, request_id),
            "text": {"type": "plain_text", "text": label, "emoji": True},
            "value": str(request_id),
        }
        if style is not None:
            button["style"] = style
        if action == "delete":
            button["confirm"] = {
                "title": {"type": "plain_text", "text": "Delete these pictures?"},
                "text": {"type": "plain_text", "text": "They are removed for everyone."},
                "confirm": {"type": "plain_text", "text": "Delete"},
                "deny": {"type": "plain_text", "text": "Keep"},
                "style": "danger",
            }
        elements.append(button)
    return [{"type": "actions", "block_id": f"muse:img:{request_id}", "elements": elements}]


class RequestButtons:
    """Names the requester in the caption; once the pictures are shared, stores the
    request and posts the buttons under them."""

    def __init__(
        self, context: SlackContext, msg: Message, options: ImagineOptions | None = None
    ) -> None:
        self.context = context
        self.msg = msg
        self.options = options  # with its seed; set before the pictures are posted

    def caption(self, text: str) -> str:
        return text + asked_by(self.msg.display_name)

    async def posted(self, reply: SlackReply, file_ids: list[str]) -> None:
        if self.options is None:
            return
        m = self.msg
        requests = self.context.requests
        request_id = await requests.add(
            m.author_id, m.workspace, reply.where.channel, reply.where.thread_ts, self.options
        )
        ts = await reply.post_blocks(BUTTONS_TEXT, buttons(request_id))
        ids = [_FILE + f for f in file_ids] + [_MESSAGE + ts]
        await requests.set_messages(request_id, ids)


async def imagine(
    context: SlackContext,
    msg: Message,
    where: Where,
    options: ImagineOptions | None = None,
    *,
    respond: Respond | None = None,
) -> None:
    """Pictures for `msg`, posted at `where` with their buttons: from `options`, or from
    the options written in `msg.text` (`a fox --seed 3`), parsed by the core's rules."""
    hook = RequestButtons(context, msg)
    reply = context.reply_in(where, respond=respond, images=hook)

    async def typed(ctx: CommandContext) -> None:
        chosen = options
        if chosen is None:
            assert ctx.muse.image_settings is not None  # /imagine is offered
            # A picture shared with `@Muse /imagine …` is the reference to start from.
            posted = msg.attachments[0].url if msg.attachments else ""
            chosen = parse_imagine_args(msg.text, ctx.muse.image_settings, posted)
        hook.options = with_seed(chosen)  # chosen now, so the buttons remake these
        await run_imagine(ctx, hook.options)

    await context.muse.run_command("imagine", msg, reply, typed=typed)


async def on_button(context: SlackContext, body: dict[str, Any], action_id_: str) -> None:
    match = ACTION_ID.match(action_id_)
    if match is None:
        return
    action, request_id = match["action"], int(match["request"])
    person = await context.people.get(str((body.get("user") or {}).get("id") or ""))
    msg = from_action(body, person)
    where = Where(msg.channel, msg.thread, user=msg.author_id)
    request = await context.requests.get(request_id)
    if action == "delete":
        if not may_delete(context.muse.policy, msg, request.requester if request else None):
            await context.reply_in(where, private=True).send(DELETE_REFUSED)
            return
        shown = list(request.message_ids) if request is not None else []
        clicked = str((body.get("container") or {}).get("message_ts") or "")
        if clicked and _MESSAGE + clicked not in shown:
            shown.append(_MESSAGE + clicked)
        await _delete(context, msg.channel, shown)
        log.info("slack: image request %s deleted by %s", request_id, msg.author_id)
        return
    if request is None:
        await context.reply_in(where, private=True).send(REQUEST_GONE)
        return
    if action == "reroll":
        options = reroll(request.options)
    else:
        assert context.muse.image_settings is not None
        shown = await _first_picture(context, request.message_ids)
        options = variations(request.options, context.muse.image_settings, shown)
    await imagine(context, msg, where, options)


async def _first_picture(context: SlackContext, ids: list[str]) -> str:
    """`url_private` of the first picture a request shared (files.info, `files:read`), for
    variations to start from; "" if Slack no longer has it (they are then new draws)."""
    first = next((i.removeprefix(_FILE) for i in ids if i.startswith(_FILE)), None)
    if first is None:
        return ""
    try:
        info = await context.client.files_info(file=first)
    except SlackApiError as exc:
        log.info("slack: no picture to vary (%s)", exc.response.get("error"))
        return ""
    return str((info.get("file") or {}).get("url_private") or "")


async def _delete(context: SlackContext, channel: str, ids: list[str]) -> None:
    client = context.client
    for item in ids:
        async with context.pacer.turn(channel):
            with contextlib.suppress(SlackApiError):  # already gone
                if item.startswith(_FILE):
                    await client.files_delete(file=item.removeprefix(_FILE))
                elif item.startswith(_MESSAGE):
                    await client.chat_delete(channel=channel, ts=item.removeprefix(_MESSAGE))
