"""Chat: answer the messages addressed to Muse (see triggers) with a streamed reply, and
keep the others as channel context (core/chat/recall.py)."""

from __future__ import annotations

import dataclasses
import logging

import discord
from discord.ext import commands

from adapters.discord.context import DiscordContext
from adapters.discord.regenerate import offer
from adapters.discord.translate import from_message
from adapters.discord.triggers import decide_to_respond

log = logging.getLogger(__name__)


class ChatCog(commands.Cog):
    def __init__(self, context: DiscordContext) -> None:
        self.context = context

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        context = self.context
        decision = await decide_to_respond(
            message, context.bot_id, context.settings, context.threads, context.muse.memory
        )
        if not decision:
            if decision.reason == "not addressed":
                # Channel context (needs the Message Content intent): kept, never answered.
                await context.muse.recall.observe(
                    from_message(message, context.bot_id, addressed=False)
                )
            return
        msg = from_message(message, context.bot_id)
        if not msg.text and not msg.attachments and decision.reason not in ("mention", "dm"):
            # Nothing to read: content withheld for want of the Message Content intent.
            # A bare mention still gets a prompt for a question.
            return
        if msg.author_is_bot and context.settings.respond_to_bots:
            # The core drops bot authors to stop bot-to-bot loops; [discord]
            # respond_to_bots opts in (Muse still never answers itself).
            msg = dataclasses.replace(msg, author_is_bot=False)
        log.debug("discord: answering %s (%s)", message.id, decision.reason)
        sent = await context.muse.handle_message(msg, context.reply_to(message))
        await offer(context, message.channel, sent)
