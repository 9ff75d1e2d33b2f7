"""🔄 Regenerate under Muse's chat answers on Slack (core.chat.regenerate says what it does).

Once an answer the core kept as a generation is complete, its last message is updated to
the same text as a section block with a Block Kit button under it (action id
`muse:regen`); the message the button sits on names the answer, so nothing else needs
storing and buttons keep working after a restart. A click is acknowledged at once; the
new answer comes to the same channel and thread, refusals to the clicker alone.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError

from adapters.slack.context import SlackContext
from adapters.slack.reply import SlackReply, Where
from adapters.slack.translate import from_action
from core.chat.reply import Sent

__all__ = ["ACTION_ID", "blocks", "offer", "on_click"]

log = logging.getLogger(__name__)
ACTION_ID = "muse:regen"
SECTION_LIMIT = 3000  # characters of mrkdwn in one section block (Slack's limit)


def blocks(text: str, message_ts: str) -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "🔄 Regenerate", "emoji": True},
                    "action_id": ACTION_ID,
                    "value": message_ts,
                }
            ],
        },
    ]


async def offer(context: SlackContext, reply: SlackReply, sent: Sent | None) -> None:
    """Put the button under the last message of `sent` if it is a kept answer."""
    if sent is None or not sent.message_ids or not reply.shown:
        return
    last, text = sent.message_ids[-1], reply.shown[-1]
    if len(text) > SECTION_LIMIT or await context.muse.generations.by_reply(last) is None:
        return  # too long for a section; or a refusal, an error: nothing to regenerate
    try:
        async with reply.turn():
            await context.client.chat_update(
                channel=reply.where.channel, ts=last, text=text, blocks=blocks(text, last)
            )
    except SlackApiError as exc:  # the answer stands without its button
        log.warning("slack: could not add the regenerate button to %s: %s", last, exc)


async def on_click(context: SlackContext, body: dict[str, Any]) -> None:
    person = await context.people.get(str((body.get("user") or {}).get("id") or ""))
    msg = from_action(body, person)
    clicked = str((body.get("container") or {}).get("message_ts") or "") or None
    reply = context.reply_in(Where(msg.channel, msg.thread, user=msg.author_id))
    sent = await context.muse.regenerate(msg, reply, clicked)
    await offer(context, reply, sent)
