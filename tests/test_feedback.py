"""What reactions mean, decided once in the core for every platform."""

from __future__ import annotations

import dataclasses
from typing import Any

from core.chat.events import Message
from core.chat.feedback import Reaction, reaction_added, reaction_removed
from core.memory.store import Memory

THREAD_KEY = "chat:w1:c1:t1"


@dataclasses.dataclass
class Host:
    memory: Memory
    cancelled: list[Message] = dataclasses.field(default_factory=list)

    def cancel_requests(self, msg: Message) -> int:
        self.cancelled.append(msg)
        return 1


def reaction(emoji: str, **changes: Any) -> Reaction:
    base = Reaction(
        platform="chat",
        message_id="m1",
        user_id="u1",
        emoji=emoji,
        workspace="w1",
        channel="c1",
        message_author="muse",
        by_muse=True,
    )
    return dataclasses.replace(base, **changes)


async def rows(memory: Memory) -> list[tuple[Any, ...]]:
    async with memory.connection.execute(
        "SELECT platform, message_id, user_id, value, conversation FROM feedback ORDER BY value"
    ) as cur:
        return [tuple(r) for r in await cur.fetchall()]


async def test_thumbs_on_muses_answers_are_feedback_and_removal_undoes_them(
    memory: Memory,
) -> None:
    host = Host(memory)
    await reaction_added(host, reaction("👍", thread="t1"))
    await reaction_added(host, reaction("👎", user_id="u2", thread="t1"))
    assert await rows(memory) == [
        ("chat", "m1", "u2", -1, THREAD_KEY),
        ("chat", "m1", "u1", 1, THREAD_KEY),
    ]
    await reaction_removed(host, reaction("👎", user_id="u2"))
    assert await rows(memory) == [("chat", "m1", "u1", 1, THREAD_KEY)]


async def test_other_emoji_messages_and_bots_mean_nothing(memory: Memory) -> None:
    host = Host(memory)
    await reaction_added(host, reaction("🎉"))
    await reaction_added(host, reaction(""))  # a custom emoji
    await reaction_added(host, reaction("👍", message_author="u2", by_muse=False))
    await reaction_added(host, reaction("👍", by_bot=True))
    await reaction_added(host, reaction("❌"))  # not the reactor's own message
    assert await rows(memory) == [] and host.cancelled == []


async def test_unknown_author_asks_the_memory_which_keeps_the_thread(memory: Memory) -> None:
    await memory.add_message(THREAD_KEY, "assistant", "an answer", platform_message_id="m1")
    await memory.add_message(THREAD_KEY, "user", "a question", platform_message_id="m2")
    host = Host(memory)
    unknown = {"message_author": None, "by_muse": None}
    await reaction_added(host, reaction("👍", **unknown))  # no thread in the event
    await reaction_added(host, reaction("👍", message_id="m2", **unknown))
    await reaction_added(host, reaction("👍", message_id="m3", **unknown))
    assert await rows(memory) == [("chat", "m1", "u1", 1, THREAD_KEY)]
    # An answer's later part (not stored) counts for the channel it is in.
    await reaction_added(host, reaction("👎", message_id="m9"))
    assert (await rows(memory))[0] == ("chat", "m9", "u1", -1, "chat:w1:c1")


async def test_cross_on_your_own_message_cancels_your_requests(memory: Memory) -> None:
    host = Host(memory)
    for emoji in ("❌", "✖", "🛑"):
        await reaction_added(host, reaction(emoji, message_author="u1", by_muse=False))
    assert [(m.platform, m.author_id) for m in host.cancelled] == [("chat", "u1")] * 3
    assert await rows(memory) == []
