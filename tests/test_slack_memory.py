"""Channel-aware memory through the real Slack adapter (slack_bolt / slack_sdk) and the Web API
stand-in: channel scope, channel context, rolling summaries, /memory and /summarize."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest

from adapters.slack.history import MAX_PAGES
from core.chat.recall import Recalled
from core.chat.service import Muse
from core.chat.timeline import CONTEXT_HEADER, SUMMARY_HEADER
from core.memory.store import Memory
from core.runtime.device import DeviceArbiter
from core.text.engine import TextEngine
from tests.helpers import answered, eventually, tiny_text_settings
from tests.standins.slack_api import RESPONSE_URL, SlackApiStandin
from tests.standins.slack_signing import ALICE, BOB, CHANNEL_ID, mention, message_event
from tests.test_slack_adapter import key, make_muse, mention_event, posts, running
from tests.test_slack_adapter import smuse as smuse

CAROL = "U0CAROL001"


def spy_prompts(muse: Muse) -> list[Recalled]:
    """Every prompt the core builds from now on (its key and the rendered text)."""
    seen: list[Recalled] = []
    build = muse.recall.prompt

    async def spy(msg, text, *engine):  # type: ignore[no-untyped-def]
        recalled = await build(msg, text, *engine)
        seen.append(recalled)
        return recalled

    muse.recall.prompt = spy  # type: ignore[method-assign]
    return seen


def name(user: str) -> str:
    return f"user-{user.lower()}"  # the stand-in's users.info display name


async def context_rows(muse: Muse, conversation: str) -> list[tuple[str, str]]:
    rows = await muse.recall.store.context(conversation, 0.0, 100)
    return [(r.author_name, r.content) for r in rows]


async def test_top_level_mentions_in_one_channel_share_memory(
    smuse: Muse,
    slack: SlackApiStandin,
) -> None:
    prompts = spy_prompts(smuse)
    async with running(smuse, slack) as r:
        first = mention_event("my favourite colour is teal")
        await r.event(first)
        await answered(smuse, key())
        second = mention_event("which colour did I name?")
        await r.event(second)
        await answered(smuse, key(), 2)
    # Each answer opened its own thread, and both questions are one conversation.
    assert [p.params["thread_ts"] for p in posts(slack)] == [first["ts"], second["ts"]]
    assert [p.key for p in prompts] == [key(), key()]
    assert f"{name(ALICE)}: my favourite colour is teal" in prompts[1].prompt.text
    stored = await smuse.memory.recent(key())
    assert [m.role for m in stored] == ["user", "assistant", "user", "assistant"]


async def test_a_thread_sees_the_channel_and_context_is_never_answered(
    smuse: Muse,
    slack: SlackApiStandin,
) -> None:
    prompts = spy_prompts(smuse)
    async with running(smuse, slack) as r:
        # Said in the channel, not to Muse: kept as context, attributed, not answered.
        await r.event(message_event(CHANNEL_ID, BOB, "I propose we ship on Friday"))
        await eventually(lambda: context_rows(smuse, key()))
        ask = mention_event("what did Bob propose?")
        await r.event(ask)
        await answered(smuse, key())
        thread = ask["ts"]  # the thread Muse's answer opened
        await r.event(message_event(CHANNEL_ID, CAROL, "monday works for me"))
        await eventually(lambda: _count(context_rows(smuse, key()), 2))
        # In Muse's thread every message is addressed to it.
        follow = message_event(CHANNEL_ID, BOB, "and should we ship on Monday?", thread_ts=thread)
        await r.event(follow)
        await answered(smuse, key(thread=thread))
        # Another thread, where Muse is not: its messages are that thread's context, until
        # someone mentions Muse there.
        other = message_event(CHANNEL_ID, BOB, "release checklist")
        await r.event(other)
        aside = message_event(CHANNEL_ID, CAROL, "I will write the notes", thread_ts=other["ts"])
        await r.event(aside)
        await eventually(lambda: context_rows(smuse, key(thread=other["ts"])))
        who = message_event(
            CHANNEL_ID, ALICE, f"{mention()} who writes the notes?", thread_ts=other["ts"]
        )
        await r.event(who)
        await answered(smuse, key(thread=other["ts"]))
        # A later top-level mention: the channel does not see inside its threads.
        await r.event(mention_event("anything new?"))
        await answered(smuse, key(), 2)

    channel_prompt, thread_prompt, other_prompt, later = prompts
    assert channel_prompt.key == key()
    friday = f"{CONTEXT_HEADER}\n{name(BOB)}: I propose we ship on Friday"
    assert friday in channel_prompt.prompt.text
    assert thread_prompt.key == key(thread=thread)
    text = thread_prompt.prompt.text
    print("\n--- prompt for a thread reply ---\n" + text)  # the report quotes it
    assert f"{name(BOB)}: I propose we ship on Friday" in text  # channel context
    assert f"{name(ALICE)}: what did Bob propose?" in text  # the channel's own turns
    assert f"{name(CAROL)}: monday works for me" in text  # said after the thread began
    assert f"{name(BOB)}: and should we ship on Monday?" in text  # the new turn
    assert text.index("ship on Friday") < text.index("what did Bob") < text.index("monday works")
    assert other_prompt.key == key(thread=other["ts"])
    assert f"{name(CAROL)}: I will write the notes" in other_prompt.prompt.text
    assert "should we ship on Monday" not in other_prompt.prompt.text  # thread to thread
    for hidden in ("should we ship on Monday", "I will write the notes", "who writes"):
        assert hidden not in later.prompt.text
    # Muse answered the four messages addressed to it, nothing else.
    assert len(posts(slack)) == 4


async def _count(rows: Awaitable[list[tuple[str, str]]], n: int) -> bool:
    return len(await rows) >= n


async def test_an_opted_out_channel_stores_no_context(
    smuse: Muse,
    slack: SlackApiStandin,
) -> None:
    async with running(smuse, slack) as r:
        await r.event(message_event(CHANNEL_ID, ALICE, "before opting out"))
        assert await eventually(lambda: context_rows(smuse, key())) == [
            (name(ALICE), "before opting out")
        ]
        await r.command("/memory", "context off")  # Alice is no admin
        [refused] = await slack.wait_for(RESPONSE_URL)
        assert refused.params["text"] == "Only admins can change how this channel remembers."
        await r.command("/memory", "context off", user=BOB)  # [policy] admin
        [done] = await slack.wait_for("chat.postMessage")
        assert done.params["text"].startswith("Muse no longer keeps messages said here")
        await r.event(message_event(CHANNEL_ID, ALICE, "after opting out"))
        await r.event(mention_event("barrier"))  # handled after the message before it
        await answered(smuse, key())
        await r.command("/memory", "")
        shown = (await slack.wait_for(RESPONSE_URL, 2))[-1]
        assert "channel context off" in shown.params["text"]
    assert await context_rows(smuse, key()) == [(name(ALICE), "before opting out")]


@pytest.fixture
async def small_muse(tiny_text_dir: Path, memory: Memory) -> AsyncIterator[Muse]:
    """A core whose prompt budget holds only a few turns."""
    settings = tiny_text_settings(tiny_text_dir, prompt_tokens=200, trim_chunk_turns=2)
    arbiter = DeviceArbiter()
    engine = TextEngine(settings, arbiter)
    await engine.load()
    yield make_muse(memory, engine, settings)
    await arbiter.close()


async def test_an_over_budget_channel_gets_a_summary_that_later_prompts_carry(
    small_muse: Muse, slack: SlackApiStandin
) -> None:
    prompts = spy_prompts(small_muse)
    words = "the sailor and the robot walk to the old lighthouse by the sea"
    async with running(small_muse, slack) as r:
        for i in range(12):
            await r.event(mention_event(f"story {i}: {words}"))
            await answered(small_muse, key(), i + 1)
            await small_muse.recall.summarizer.settle()
            if await small_muse.recall.store.summary(key()) is not None:
                break
        summary = await small_muse.recall.store.summary(key())
        assert summary is not None, "no summary after 12 over-budget turns"
        dropped = [p for p in prompts if p.prompt.history_dropped]
        assert dropped, "the budget never dropped a turn"
        await r.event(mention_event("what happened so far?"))
        await answered(small_muse, key(), len(prompts) + 1)
    latest = prompts[-1].prompt.text
    assert f"{SUMMARY_HEADER}\n{summary.content}" in latest
    # The summarised turns left the prompt; the stored turns are all still there.
    assert "story 0:" not in latest
    stored = await small_muse.memory.recent(key())
    assert stored[0].content.startswith("story 0:")
    assert summary.through_id >= stored[0].id


async def test_summarize_reads_channel_history_with_slack_cursors(
    smuse: Muse,
    slack: SlackApiStandin,
) -> None:
    now = time.time()
    old = slack.said(CHANNEL_ID, BOB, "three days ago", ts=f"{now - 3 * 86400:.6f}")
    for i in range(5):
        slack.said(CHANNEL_ID, ALICE if i % 2 else BOB, f"plan step {i}", ts=f"{now - 600 + i:.6f}")
    slack.history_page_max = 2  # Slack may answer fewer than `limit`: Muse follows the cursor
    async with running(smuse, slack) as r:
        await r.command("/summarize", "last 2 hours")
        calls = await slack.wait_for("conversations.history", 3)
        await eventually(lambda: _posted(slack))
    assert [c.params["channel"] for c in calls] == [CHANNEL_ID] * 3
    assert {c.params["limit"] for c in calls} == {"200"}
    oldest = float(calls[0].params["oldest"])
    assert now - 2 * 3600 - 60 < oldest < now - 2 * 3600 + 60
    assert "cursor" not in calls[0].params
    for before, after in itertools.pairwise(calls):
        assert after.params["cursor"] == before.response["response_metadata"]["next_cursor"]
        assert after.params["oldest"] == calls[0].params["oldest"]
    assert not calls[-1].response["has_more"]
    shown = [m["text"] for c in calls for m in c.response["messages"]]
    assert len(shown) == 5 and old["text"] not in shown
    [answer] = [p for p in posts(slack) if "thread_ts" not in p.params]
    assert answer.params["channel"] == CHANNEL_ID and answer.params["text"]


async def test_summarize_follows_the_cursor_a_bounded_number_of_times(
    smuse: Muse, slack: SlackApiStandin
) -> None:
    # As Slack limits apps outside the Marketplace: small pages (and one call a minute).
    now = time.time()
    for i in range(40):
        slack.said(CHANNEL_ID, BOB, f"chatter {i}", ts=f"{now - 900 + i:.6f}")
    slack.history_page_max = 3
    async with running(smuse, slack) as r:
        await r.command("/summarize", "last 1 hour")
        await eventually(lambda: _posted(slack))
    calls = slack.calls("conversations.history")
    assert len(calls) == MAX_PAGES and calls[-1].response["has_more"]
    # The newest messages were read: history pages come newest first.
    assert calls[0].response["messages"][0]["text"] == "chatter 39"


async def _posted(slack: SlackApiStandin) -> bool:
    return bool(posts(slack))


async def _true(value: bool) -> bool:
    return value


async def test_summarize_thread_reads_replies_and_answers_in_the_thread(
    smuse: Muse,
    slack: SlackApiStandin,
) -> None:
    parent = slack.said(CHANNEL_ID, BOB, "release thread")
    for i in range(3):
        slack.said(CHANNEL_ID, ALICE, f"note {i}", thread_ts=parent["ts"])
    slack.said(CHANNEL_ID, ALICE, "another thread's words", thread_ts="1.000001")
    async with running(smuse, slack) as r:
        ask = message_event(
            CHANNEL_ID, ALICE, f"{mention()} /summarize thread", thread_ts=parent["ts"]
        )
        await r.event(ask)
        [call] = await slack.wait_for("conversations.replies")
        await eventually(lambda: _true(bool(posts(slack, parent["ts"]))))
    assert (call.params["channel"], call.params["ts"], call.params["limit"]) == (
        CHANNEL_ID,
        parent["ts"],
        "200",
    )
    assert "oldest" not in call.params  # the whole thread
    assert [m["text"] for m in call.response["messages"]][:4] == [
        "release thread",
        "note 0",
        "note 1",
        "note 2",
    ]
    assert all(m["text"] != "another thread's words" for m in call.response["messages"])


async def test_summarize_says_clearly_when_slack_refuses_the_history(
    smuse: Muse,
    slack: SlackApiStandin,
) -> None:
    slack.fail("conversations.history", "not_in_channel")
    async with running(smuse, slack) as r:
        await r.command("/summarize", "last 3 hours")
        [told] = await slack.wait_for(RESPONSE_URL)
        await r.command("/summarize", "thread")  # a slash command is never in a thread
        told_thread = (await slack.wait_for(RESPONSE_URL, 2))[-1]
        await r.command("/summarize", "last 999999 hours")
        too_long = (await slack.wait_for(RESPONSE_URL, 3))[-1]
    assert told.params["response_type"] == "ephemeral"
    assert told.params["text"].startswith("I'm not a member of this channel")
    assert "/invite @Muse" in told.params["text"]
    assert told_thread.params["text"].startswith("/summarize thread works inside a thread")
    assert too_long.params["text"] == "/summarize can look back 1 to 168 hours, not 999999."
    assert posts(slack) == []
