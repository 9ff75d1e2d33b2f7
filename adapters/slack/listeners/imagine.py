"""/imagine: the options are checked at once and the command acknowledged within
Slack's 3 seconds (a bad option is the ack, seen by the user alone); the pictures are
made off the request path and shared in the channel with files_upload_v2, the caption
(prompt, seed, size, steps, who asked) as the file comment, and the buttons under them
(adapters.slack.images), whose presses come here too."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from adapters.slack import images
from adapters.slack.context import SlackContext
from adapters.slack.listeners.commands import NOT_HERE, command_message
from adapters.slack.reply import Respond, Where
from adapters.slack.translate import unescape
from core.errors import OptionError
from core.image.options import ImagineOptions, parse_imagine_args

IMAGES_OFF = "Pictures are off on this Muse (no image model is loaded)."
DRAWING = "🎨 Drawing… the picture will appear here."


def register(app: AsyncApp, context: SlackContext) -> None:
    @app.command("/imagine")
    async def on_imagine(ack: Any, command: dict[str, Any], respond: Respond) -> None:
        muse = context.muse
        if muse.commands.get("imagine") is None or muse.image_settings is None:
            await ack(text=IMAGES_OFF, response_type="ephemeral")
            return
        if str(command.get("channel_id", "")).startswith("D") and not (
            context.settings.respond_to_dms
        ):
            await ack(text=NOT_HERE, response_type="ephemeral")
            return
        try:  # checked in the ack, so a bad option is answered at once, privately
            text = unescape(str(command.get("text") or ""))
            options = parse_imagine_args(text, muse.image_settings)
        except OptionError as exc:
            await ack(text=str(exc), response_type="ephemeral")
            return
        await ack(text=DRAWING, response_type="ephemeral")
        context.spawn(_draw(context, command, respond, options), "/imagine")

    @app.action(images.ACTION_ID)
    async def on_image_button(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()  # within Slack's 3 seconds; what the button does follows
        context.spawn(images.on_button(context, body, str(action.get("action_id"))), "image button")


async def _draw(
    context: SlackContext, command: dict[str, Any], respond: Respond, options: ImagineOptions
) -> None:
    msg = await command_message(context, command)
    where = Where(msg.channel, None, user=msg.author_id)
    await images.imagine(context, msg, where, options, respond=respond)
