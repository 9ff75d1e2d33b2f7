"""What Muse remembers when it answers: the one place a prompt's memory is gathered.

`Recall.prompt` resolves the message's memory scope (core/chat/scope.py), reads the
conversation's summary, own turns and channel context (and, in a thread, the channel's
newest turns and context), lays them out (core/chat/timeline.py) and, when turns fell out
of the budget, asks for a summary in the background (core/chat/summaries.py).
`Recall.observe` keeps channel messages not addressed to Muse as context.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from core.chat.events import Message
from core.chat.history import ChannelHistory
from core.chat.prompt import Prompt, Turn
from core.chat.scope import MemoryScope, channel_key, scope_of
from core.chat.summaries import Summarizer
from core.chat.timeline import Item, assemble
from core.fair_use.policy import Policy
from core.memory.channels import ChannelStore, Scope
from core.memory.settings import MemorySettings
from core.memory.store import Memory, StoredMessage
from core.text.backend import TextBackend
from core.text.settings import TextSettings

__all__ = ["Recall", "Recalled"]

HOUR = 3600.0


class Recalled(NamedTuple):
    key: str  # the conversation the new turn joins (memory and prefix-cache key)
    prompt: Prompt
    persona: str  # the system prompt it was built with
    authors: list[str]  # "platform:id" of everyone whose words it quotes
    stored: list[StoredMessage]  # the conversation's newest messages, as read for it


@dataclass
class Recall:
    memory: Memory
    engine: TextBackend
    text: TextSettings
    settings: MemorySettings
    policy: Policy
    # Filled by adapters as they start: platform name -> its history reader (/summarize).
    histories: dict[str, ChannelHistory] = field(default_factory=dict)
    # Message id -> what its files add to it when read again (documents' text), if any.
    references: Callable[[list[int]], Awaitable[dict[int, str]]] | None = None

    def __post_init__(self) -> None:
        self.store = ChannelStore(self.memory.connection)
        self.summarizer = Summarizer(self.store, self.engine, self.text, self.settings)

    # -- scope and per-channel settings -----------------------------------------------------

    async def mode(self, msg: Message) -> Scope:
        if msg.is_dm:
            return "channel"
        chosen = (await self.store.settings(channel_key(msg))).scope
        return chosen or self.settings.scope

    async def scope(self, msg: Message) -> MemoryScope:
        return scope_of(msg, await self.mode(msg))

    async def keeps_context(self, msg: Message) -> bool:
        chosen = (await self.store.settings(channel_key(msg))).context
        return self.settings.channel_context if chosen is None else chosen

    async def configure(
        self, msg: Message, *, scope: Scope | None = None, context: bool | None = None
    ) -> tuple[Scope, bool]:
        """Change this channel's memory settings (admins: /memory); returns them."""
        new_scope = scope or await self.mode(msg)
        new_context = await self.keeps_context(msg) if context is None else context
        await self.store.set_settings(
            channel_key(msg), scope=new_scope, context=new_context, set_by=msg.author_id
        )
        return new_scope, new_context

    # -- answering ---------------------------------------------------------------------------

    async def persona(self, scope: MemoryScope) -> str:
        for key in (scope.key, scope.channel):
            if custom := await self.memory.get_persona(key):
                return custom
        return self.text.system_prompt

    async def prompt(self, msg: Message, text: str, engine: TextBackend | None = None) -> Recalled:
        """The prompt for `text`, said by `msg`'s author, and the conversation it joins;
        counted with `engine`'s tokenizer (the conversation's /model; default: [text]'s)."""
        engine = engine or self.engine
        scope = await self.scope(msg)
        summary = await self.store.summary(scope.key)
        after = summary.through_id if summary else 0
        stored = await self.memory.recent(scope.key, self.text.history_messages)
        recent = [m for m in stored if m.id > after]
        extra = await self.references([m.id for m in recent]) if self.references else {}
        items = [
            Item(
                m.created_at,
                m.role,
                m.content + extra.get(m.id, ""),
                m.author_name if m.role == "user" else "",
                m.id,
                m.author_id if m.role == "user" else "",
            )
            for m in recent
        ]
        items += await self._context(scope.key, self.settings.context_messages)
        if scope.parent is not None and self.settings.thread_sees_channel:
            began = min((i.at for i in items), default=time.time())
            items += await self._channel_view(scope.parent, began)
        persona = await self.persona(scope)
        assembled = assemble(
            engine.tokenizer,
            persona,
            summary.content if summary else None,
            items,
            Turn("user", text, msg.display_name),
            self.text.prompt_tokens,
            self.text.trim_chunk_turns,
            self.settings.context_tokens,
        )
        if assembled.dropped_ids:
            self.summarizer.request(scope.key, max(assembled.dropped_ids), engine)
        authors = [f"{msg.platform}:{a}" for a in assembled.authors]
        return Recalled(scope.key, assembled.prompt, persona, authors, stored)

    async def _context(self, key: str, limit: int) -> list[Item]:
        since = time.time() - self.settings.context_max_age_hours * HOUR
        rows = await self.store.context(key, since, limit)
        return [
            Item(r.created_at, "context", r.content, r.author_name, author_id=r.author_id)
            for r in rows
        ]

    async def _channel_view(self, channel: str, began: float) -> list[Item]:
        """A thread's view of its channel, as context lines: the newest turns and context
        said before the thread began (fixed from then on, so the prompt prefix holds) and
        the newest said since (they join at the end)."""
        limit = self.settings.thread_sees_channel
        oldest = time.time() - self.settings.context_max_age_hours * HOUR
        rows = await self.store.said_between(channel, 0.0, began, limit)
        rows += await self.store.said_between(channel, began, float("inf"), limit)
        return [
            Item(r.at, "context", r.content, r.name or "someone", author_id=r.author_id)
            for r in rows
            if r.is_turn or r.at >= oldest  # context ages out; turns do not
        ]

    # -- listening ---------------------------------------------------------------------------

    async def observe(self, msg: Message) -> bool:
        """Keep a channel message not addressed to Muse as context; True if kept. Muse
        never answers these."""
        text = msg.text.strip()
        if msg.is_dm or msg.author_is_bot or not text or self.settings.context_messages == 0:
            return False
        if not self.policy.may_talk(msg) or not await self.keeps_context(msg):
            return False
        scope = await self.scope(msg)
        await self.store.add_context(
            scope.key,
            text,
            author_id=msg.author_id,
            author_name=msg.display_name,
            platform_message_id=msg.message_id,
            keep=self.settings.context_messages,
        )
        return True

    async def forget(self, scope: MemoryScope) -> int:
        removed = await self.memory.forget(scope.key)
        self.engine.forget(scope.key)
        return removed

    async def close(self) -> None:
        await self.summarizer.close()
