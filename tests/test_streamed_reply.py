"""The edit-streaming state machine both chat platforms use, over a surface in memory."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.common.pacing import ChannelPacer
from adapters.common.streamed_reply import (
    EMPTY_ANSWER,
    FIRST_PAINT_CHARS,
    WRITE_ATTEMPTS,
    StreamedReply,
    ready_to_show,
)
from adapters.common.textsplit import split_message

LIMIT = 40


class Flaky(Exception):
    pass


class MemorySurface:
    """Messages are ids; `shown` is what each says; `calls` logs every write."""

    pace_key = "channel"

    def __init__(self) -> None:
        self.max_length = LIMIT
        self.shown: dict[int, str] = {}
        self.after: dict[int, int | None] = {}
        self.ephemeral: dict[int, bool] = {}
        self.calls: list[str] = []
        self.history: list[tuple[int, str]] = []  # (message, text) after every write
        self.fail_next = 0
        self._ids = itertools.count(1)

    def _maybe_fail(self) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise Flaky("try again")

    async def post(self, text: str, *, ephemeral: bool = False, after: int | None = None) -> int:
        self._maybe_fail()
        message = next(self._ids)
        self.shown[message], self.after[message] = text, after
        self.ephemeral[message] = ephemeral
        self.calls.append(f"post {message}")
        self.history.append((message, text))
        return message

    async def edit(self, message: int, text: str) -> int:
        self._maybe_fail()
        self.shown[message] = text
        self.calls.append(f"edit {message}")
        self.history.append((message, text))
        return message

    async def delete(self, message: int) -> None:
        self._maybe_fail()
        del self.shown[message]
        self.calls.append(f"delete {message}")


class RetryingReply(StreamedReply[int]):
    def retryable(self, exc: Exception) -> bool:
        return isinstance(exc, Flaky)


async def pieces(*parts: str) -> AsyncIterator[str]:
    for part in parts:
        yield part


def reply_on(surface: MemorySurface, cls: type[StreamedReply[int]] = StreamedReply) -> Any:
    return cls(surface, ChannelPacer(0.0))


async def test_stream_ends_with_exactly_the_split_text_in_a_chain() -> None:
    surface = MemorySurface()
    words = ["One ", "sentence ", "here. "] * 6
    text = "".join(words)
    sent = await reply_on(surface).stream(pieces(*words))
    assert [surface.shown[int(i)] for i in sent.message_ids] == split_message(text, LIMIT)
    assert sent.text == text and len(sent.message_ids) > 2
    ids = [int(i) for i in sent.message_ids]
    assert [surface.after[i] for i in ids] == [None, *ids[:-1]]  # each continues the last


async def test_status_becomes_the_answer_unless_the_answer_is_private() -> None:
    surface = MemorySurface()
    reply = reply_on(surface)
    await reply.status("#2 in line")
    await reply.status("#1 in line")
    sent = await reply.send("Here you go.")
    assert surface.calls == ["post 1", "edit 1", "edit 1"]
    assert sent.message_ids == ("1",) and surface.shown == {1: "Here you go."}

    await reply.status("#1 in line")
    private = await reply.send("Only for you.", ephemeral=True)
    assert surface.calls[-2:] == ["delete 2", "post 3"]
    assert private.message_ids == ("3",) and surface.ephemeral[3]


async def test_shorter_text_edits_and_deletes_the_messages_it_no_longer_needs() -> None:
    surface = MemorySurface()
    reply = reply_on(surface)
    await reply.begin()
    await reply.show(lambda: "word " * 30, final=False)
    assert len(surface.shown) > 2
    await reply.show(lambda: "[redacted]", final=True)
    assert list(surface.shown.values()) == ["[redacted]"]
    assert reply.sent("[redacted]").message_ids == ("1",)


async def test_empty_text_shows_a_placeholder() -> None:
    surface = MemorySurface()
    sent = await reply_on(surface).stream(pieces(" ", "\n"))
    assert [surface.shown[int(i)] for i in sent.message_ids] == [EMPTY_ANSWER]


async def test_failed_writes_are_retried_only_where_the_platform_says_so() -> None:
    surface = MemorySurface()
    surface.fail_next = WRITE_ATTEMPTS - 1
    sent = await reply_on(surface, RetryingReply).send("made it")
    assert surface.shown[int(sent.message_ids[0])] == "made it"

    surface.fail_next = WRITE_ATTEMPTS
    with pytest.raises(Flaky):
        await reply_on(surface, RetryingReply).send("gives up")
    surface.fail_next = 1
    with pytest.raises(Flaky):
        await reply_on(surface).send("no retries by default")


async def test_the_first_paint_is_a_sentence_or_a_few_dozen_characters_never_a_word() -> None:
    async def typed_slowly(*parts: str) -> AsyncIterator[str]:
        for part in parts:
            yield part
            for _ in range(20):  # the writer's every chance to show what came so far
                await asyncio.sleep(0)

    surface = MemorySurface()
    surface.max_length = 2000
    words = ["Well", ",", " let", " me", " think", ".", " The", " answer", " is", " 42", "."]
    sent = await reply_on(surface).stream(typed_slowly(*words))
    assert surface.calls[0] == "post 1"
    first = surface.history[0][1]  # the first post
    assert first == "Well, let me think. The"  # the first whole sentence (and what followed)
    assert surface.shown[int(sent.message_ids[0])] == "".join(words)

    surface = MemorySurface()
    surface.max_length = 2000
    long = ["Supercalifragilistic"] + ["expialidocious"] * 3  # no sentence: a few dozen chars
    await reply_on(surface).stream(typed_slowly(*long))
    first = surface.history[0][1]  # the first post
    assert len(first) >= FIRST_PAINT_CHARS and first != long[0]

    surface = MemorySurface()
    await reply_on(surface).stream(typed_slowly("Hi", "!"))  # short answers still show, whole
    assert surface.history == [(1, "Hi!")]


def test_ready_to_show() -> None:
    assert not ready_to_show("Sure")
    assert not ready_to_show("Sure! ")  # a sentence, but a lone word
    assert not ready_to_show("Here is the")
    assert ready_to_show("Here it is. ")
    assert ready_to_show("Here it is:\n")
    assert ready_to_show("x" * FIRST_PAINT_CHARS)
