"""Rolling summaries: turns that fall out of the prompt are summarised by the text engine,
in the background, into one stored summary per conversation that later prompts carry.

Each update summarises the previous summary together with the newly fallen-out turns into
at most `[memory] summary_tokens`, so a summary is re-summarised every time it grows rather
than growing without end. Only one update per conversation runs at a time; a prompt that
finds turns still unsummarised simply asks again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from core.chat.prompt import Prompt, Turn, chat_messages, count_tokens, render_messages
from core.memory.channels import ChannelStore
from core.memory.settings import MemorySettings
from core.memory.store import StoredMessage
from core.text.backend import TextBackend
from core.text.request import GenerationSettings
from core.text.settings import TextSettings

__all__ = ["Summarizer", "generate", "summary_ids", "summary_messages"]

log = logging.getLogger(__name__)
SUMMARIZER = (
    "You keep the memory of a group chat for an assistant named Muse. Write a short, factual "
    "summary of the conversation below: who said what, decisions, open questions. Keep names."
)
NO_SUMMARY = "(the model wrote no summary of the earlier conversation)"


def summary_messages(
    previous: str | None, lines: Sequence[str], words: int
) -> list[dict[str, str]]:
    """The chat messages that ask for a summary (what a server-side engine is sent)."""
    parts = [f"Summary so far:\n{previous}\n"] if previous else []
    parts.append("Conversation:\n" + "\n".join(lines))
    parts.append(f"\nWrite the updated summary in at most {words} words.")
    return chat_messages(SUMMARIZER, [Turn("user", "\n".join(parts))])


def summary_ids(
    tokenizer: Any, previous: str | None, lines: Sequence[str], words: int
) -> list[int]:
    text = render_messages(tokenizer, summary_messages(previous, lines, words))
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


async def generate(engine: TextBackend, prompt: Prompt, max_new_tokens: int) -> str:
    """The engine's whole answer to `prompt`, greedy (summaries should not wander)."""
    gen = GenerationSettings(max_new_tokens, 0.0, 1.0)
    pieces = [piece async for piece in engine.generate(prompt, gen, cache_key=None)]
    return "".join(pieces).strip()


def line_of(message: StoredMessage) -> str:
    name = message.author_name or ("Muse" if message.role == "assistant" else "someone")
    return f"{name}: {message.content}"


class Summarizer:
    def __init__(
        self,
        store: ChannelStore,
        engine: TextBackend,
        text: TextSettings,
        settings: MemorySettings,
    ) -> None:
        self.store = store
        self.engine = engine
        self.text = text
        self.settings = settings
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def request(
        self, conversation: str, through_id: int, engine: TextBackend | None = None
    ) -> None:
        """Summarise `conversation` up to message `through_id`, off the reply's path, with
        `engine` (the conversation's /model; default: [text]'s)."""
        if not self.settings.summaries or conversation in self._tasks:
            return
        run = self._run(conversation, through_id, engine or self.engine)
        task = asyncio.create_task(run, name="summary")
        self._tasks[conversation] = task
        task.add_done_callback(lambda _: self._tasks.pop(conversation, None))

    async def settle(self) -> None:
        """Wait for the summaries being written (tests; shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def _run(self, conversation: str, through_id: int, engine: TextBackend) -> None:
        try:
            while await self._step(conversation, through_id, engine):
                pass
        except asyncio.CancelledError:
            raise
        except Exception:
            # A summary is an improvement, never a reason to fail: the turns are still
            # stored, and the next prompt that drops them asks again.
            log.exception("summary of %s failed", conversation)

    async def _step(self, conversation: str, through_id: int, engine: TextBackend) -> bool:
        """Fold the next batch of unsummarised turns into the summary; False when done."""
        old = await self.store.summary(conversation)
        after = old.through_id if old else 0
        pending = await self.store.messages_between(conversation, after, through_id)
        if not pending:
            return False
        tokenizer = engine.tokenizer
        # A summary takes at most a quarter of the prompt, so turns still fit beside it.
        limit = min(self.settings.summary_tokens, max(16, self.text.prompt_tokens // 4))
        room = self.text.prompt_tokens - limit - 64  # the instructions and the template
        used = count_tokens(tokenizer, old.content) if old else 0
        batch: list[StoredMessage] = []
        for message in pending:
            cost = count_tokens(tokenizer, line_of(message)) + 1
            if batch and used + cost > room:
                break
            batch.append(message)
            used += cost
        words = max(8, limit * 2 // 3)
        previous = old.content if old else None
        lines = [line_of(m) for m in batch]
        ids = summary_ids(tokenizer, previous, lines, words)
        ids = ids[-self.text.prompt_tokens :]  # one overlong turn must not break the engine
        prompt = Prompt(ids, "", len(batch), 0, summary_messages(previous, lines, words))
        content = await generate(engine, prompt, limit) or (old.content if old else NO_SUMMARY)
        oldest = min(m.created_at for m in batch)
        await self.store.save_summary(conversation, content, batch[-1].id, oldest)
        # The summary replaces those turns in the prompt: the cached prefix no longer fits.
        engine.forget(conversation)
        log.info("summary of %s now covers through message %d", conversation, batch[-1].id)
        return batch[-1].id < pending[-1].id
