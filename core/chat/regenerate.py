"""Regenerate (🔄, /retry): a new reply to the very prompt an earlier reply answered.

The prompt is the stored one (`generations.prompt`, the chat messages as sent), rendered
and tokenized exactly as `build_prompt` does, so both replies answer the same input; the
new one is posted, stored in memory, and kept as a generation pointing at the first
(`regenerates`), which is what pairs the two for DPO exports. Sampling is what makes a
second reply differ: with [text] temperature 0 (greedy) a regeneration samples at
RETRY_TEMPERATURE instead of repeating the first reply word for word.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import Protocol

from core.chat.events import Message
from core.chat.prompt import Prompt, render_messages
from core.chat.reply import Reply, Sent
from core.errors import UserError
from core.fair_use.admission import Admission, Ticket
from core.fair_use.guard import Guard
from core.fair_use.moderation import Moderator
from core.fair_use.quotas import Quotas
from core.memory.store import Memory
from core.runtime import metrics
from core.text.backend import TextBackend
from core.text.engine import generation_settings
from core.text.settings import TextSettings
from core.tuning import record
from core.tuning.generations import Generation, Generations

__all__ = ["RETRY_TEMPERATURE", "RegenerateHost", "regenerate", "thread_of"]

RETRY_TEMPERATURE = 0.7
NO_ANSWER = "(no answer: the model ended its reply before writing anything)"


class RegenerateHost(Protocol):
    memory: Memory
    generations: Generations
    text_engine: TextBackend
    text_settings: TextSettings
    moderator: Moderator
    guard: Guard | None
    quotas: Quotas
    admission: Admission

    def work(self, msg: Message, reply: Reply, kind: str) -> AbstractAsyncContextManager[Ticket]:
        """Admit one unit of GPU work (limits, queue, /cancel)."""
        ...


def thread_of(conversation: str) -> str | None:
    """The thread part of a conversation key (see `conversation_key`), unescaped."""
    parts = conversation.split(":")
    if len(parts) < 4:
        return None
    part = parts[3]
    return "-" if part == "%2D" else part.replace("%3A", ":").replace("%25", "%")


def channel_of(conversation: str) -> list[str]:
    """The platform, workspace and channel parts of a conversation key."""
    return conversation.split(":")[:3]


async def find(muse: RegenerateHost, msg: Message, message_id: str | None) -> Generation:
    """The generation to answer again: the one behind `message_id`, else this
    conversation's latest."""
    if message_id is None:
        found = await muse.generations.latest(msg.conversation)
    else:
        found = await muse.generations.by_reply(message_id)
        # Ids may be unique per channel only: the reply must be in this channel (its
        # thread may differ: a Slack reaction does not say its thread, and a reply kept in
        # the channel's memory is shown in the thread its mention opened).
        if found is not None and channel_of(found.conversation) != channel_of(msg.conversation):
            found = None
    if found is None:
        raise UserError("There is no reply of mine here to regenerate yet.")
    return found


async def regenerate(
    muse: RegenerateHost, msg: Message, reply: Reply, message_id: str | None = None
) -> Sent:
    """Post a new reply to the prompt of the reply `message_id` (None: the latest here)."""
    first = await find(muse, msg, message_id)
    engine = muse.text_engine
    adapter = record.loaded_adapter(first.adapter, engine.adapters)
    text = render_messages(engine.tokenizer, first.prompt)
    ids = list(engine.tokenizer(text, add_special_tokens=False)["input_ids"])
    prompt = Prompt(ids, text, 0, 0, list(first.prompt))  # a server gets the messages
    gen = generation_settings(muse.text_settings)
    if gen.temperature == 0:
        gen = replace(gen, temperature=RETRY_TEMPERATURE)
    asked = first.prompt[-1]["content"] if first.prompt else ""
    collected: list[str] = []
    tokens = 0
    async with muse.work(msg, reply, "text") as ticket:

        async def pieces() -> AsyncIterator[str]:
            nonlocal tokens
            stream = engine.generate(prompt, gen, adapter=adapter)
            shown = False
            try:
                async for piece in stream:
                    if ticket.started is None:
                        muse.admission.start(ticket)
                        metrics.first_token(time.monotonic() - ticket.arrived)
                    shown = True
                    yield piece
            finally:
                tokens = stream.tokens  # what the engine counted (a server's `usage`)
            if not shown:
                yield NO_ANSWER

        async def moderated() -> AsyncIterator[str]:
            source = pieces()
            if muse.guard is not None:
                source = muse.guard.filter_reply(source, asked, first.conversation)
            async for piece in muse.moderator.filter_stream(source, first.conversation):
                collected.append(piece)
                yield piece

        try:
            sent = await reply.stream(moderated())
        finally:
            await muse.quotas.record(msg, "text", tokens)
    final = "".join(collected)
    if final:
        await muse.memory.add_message(
            first.conversation,
            "assistant",
            final,
            author_name="Muse",
            platform_message_id=sent.first_id,
        )
        await muse.generations.record(
            first.conversation,
            first.prompt,
            final,
            sent.message_ids,
            asker=first.asker,
            authors=first.authors,
            persona=first.persona,
            adapter=adapter,
            model=engine.model_name,
            regenerates=first.root,
        )
    return sent
