"""Channel-aware memory in the core: scopes, per-channel settings, the schema 8 migration,
privacy (forget, export, purge, retention) over summaries and context, the prefix cache
across turns, and isolation under random interleavings (hypothesis)."""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.features import register_commands
from bot.privacy import export_conversation, prune_old
from core.chat import summaries
from core.chat.events import Message, conversation_key
from core.chat.service import Muse
from core.chat.timeline import SUMMARY_HEADER
from core.commands.summarize import MAX_HOURS, Window, parse_window
from core.errors import OptionError
from core.fair_use.policy import Policy
from core.fair_use.settings import LimitSettings, PolicySettings
from core.memory.settings import MemorySettings
from core.memory.store import MIGRATIONS, Memory
from core.runtime.device import DeviceArbiter
from core.text.engine import TextEngine
from tests.helpers import RecordingReply, tiny_text_settings
from tests.test_slack_memory import spy_prompts

ADMIN = "boss"


def said(text: str, channel: str = "c1", author: str = "ann", **kw: object) -> Message:
    return Message(
        platform="slack",
        workspace="T1",
        channel=channel,
        author_id=author,
        author_name=author.title(),
        text=text,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
async def quick(tiny_text_dir: Path, memory: Memory) -> AsyncIterator[Muse]:
    """A core with two-token replies (the tests read prompts, not answers)."""
    text = tiny_text_settings(tiny_text_dir, max_new_tokens=2)
    arbiter = DeviceArbiter()
    engine = TextEngine(text, arbiter)
    await engine.load()
    core = Muse(
        memory=memory,
        text_engine=engine,
        arbiter=arbiter,
        text_settings=text,
        policy=Policy(PolicySettings(admins=[f"slack:{ADMIN}"])),
        limits=LimitSettings(requests_per_minute=0, notify_wait_seconds=3600),
        memory_settings=MemorySettings(),
    )
    register_commands(core)
    yield core
    await core.recall.close()
    await arbiter.close()


CHANNEL = conversation_key("slack", "T1", "c1")


async def test_thread_scope_per_channel_keeps_each_mention_alone(quick: Muse) -> None:
    prompts = spy_prompts(quick)
    reply = RecordingReply()
    await quick.run_command("memory", said("scope thread", author="ann"), reply)
    assert reply.last == "Only admins can change how this channel remembers."
    await quick.run_command("memory", said("scope thread", author=ADMIN), reply)
    assert reply.last.startswith("Memory scope here is now thread")
    await quick.handle_message(said("first", thread="1.1", starts_thread=True), reply)
    await quick.handle_message(said("second", thread="2.2", starts_thread=True), reply)
    # Another channel keeps the default: its mentions share the channel's memory.
    await quick.handle_message(said("third", "c2", thread="3.3", starts_thread=True), reply)
    assert [p.key for p in prompts] == [
        f"{CHANNEL}:1.1",
        f"{CHANNEL}:2.2",
        conversation_key("slack", "T1", "c2"),
    ]
    assert "first" not in prompts[1].prompt.text
    await quick.run_command("memory", said("", author="ann"), reply)
    assert reply.last.startswith("Memory here: scope thread")


async def test_dm_bot_and_blocked_messages_are_never_context(quick: Muse) -> None:
    recall = quick.recall
    assert not await recall.observe(said("in a dm", "D1", is_dm=True))
    assert not await recall.observe(said("a bot", author_is_bot=True))
    assert not await recall.observe(said("   "))
    assert await recall.observe(said("kept"))
    assert [r.content for r in await recall.store.context(CHANNEL, 0.0, 10)] == ["kept"]


async def test_context_is_bounded_by_count_and_age(tiny_text_dir: Path, memory: Memory) -> None:
    text = tiny_text_settings(tiny_text_dir, max_new_tokens=2)
    arbiter = DeviceArbiter()
    engine = TextEngine(text, arbiter)
    await engine.load()
    bounds = MemorySettings(context_messages=3, context_max_age_hours=1.0)
    core = Muse(memory, engine, arbiter, text_settings=text, memory_settings=bounds)
    try:
        await core.recall.store.add_context(
            CHANNEL, "stale", author_id="x", author_name="X", created_at=time.time() - 7200
        )
        for i in range(5):
            await core.recall.observe(said(f"fresh {i}"))
        stored = await memory.connection.execute_fetchall(
            "SELECT content FROM channel_context ORDER BY id"
        )
        assert [r[0] for r in stored] == ["fresh 2", "fresh 3", "fresh 4"]  # count
        await core.recall.store.add_context(
            CHANNEL, "stale", author_id="x", author_name="X", created_at=time.time() - 7200, keep=3
        )
        prompt = (await core.recall.prompt(said("hi"), "hi")).prompt
        assert "fresh 4" in prompt.text and "stale" not in prompt.text  # age
    finally:
        await arbiter.close()


async def test_a_schema_6_database_migrates_without_losing_anything(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        for version, script in enumerate(MIGRATIONS[:6], start=1):
            conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")
        old_thread = conversation_key("slack", "T1", "c1", "1.1")  # a mention's old thread
        conn.execute(
            "INSERT INTO messages (conversation, role, content, created_at) VALUES (?, ?, ?, ?)",
            (old_thread, "user", "remember the kite", time.time()),
        )
        conn.execute(
            "INSERT INTO personas (conversation, prompt, updated_at) VALUES (?, ?, ?)",
            (CHANNEL, "Talk like a pirate.", time.time()),
        )
        conn.commit()
    memory = await Memory.open(path)
    try:
        assert memory.schema_version == len(MIGRATIONS)
        assert [m.content for m in await memory.recent(old_thread)] == ["remember the kite"]
        assert await memory.get_persona(CHANNEL) == "Talk like a pirate."
    finally:
        await memory.close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert {"summaries", "channel_context", "channel_memory"} <= tables


async def test_forget_export_purge_and_retention_cover_summaries_and_context(
    quick: Muse, tmp_path: Path
) -> None:
    memory, store = quick.memory, quick.recall.store
    await quick.recall.observe(said("ann's aside", author="ann"))
    await quick.recall.observe(said("bob's aside", author="bob"))
    await memory.add_message(CHANNEL, "user", "ann asks", author_id="ann")
    first = await memory.add_message(CHANNEL, "user", "bob asks", author_id="bob")
    await store.save_summary(CHANNEL, "Ann and Bob asked things.", first, time.time())
    other = conversation_key("slack", "T1", "c2")
    await memory.add_message(other, "user", "bob elsewhere", author_id="bob")
    await store.save_summary(other, "Bob said something.", 1, time.time())

    exported = await memory.export_memory(CHANNEL)
    assert exported["summary"]["content"] == "Ann and Bob asked things."  # type: ignore[index]
    assert [c["content"] for c in exported["channel_context"]] == ["ann's aside", "bob's aside"]  # type: ignore[union-attr]

    counts = await memory.purge_user("slack", "ann")
    assert counts["channel_context"] == 1 and counts["summaries"] == 1
    assert [r.content for r in await store.context(CHANNEL, 0.0, 10)] == ["bob's aside"]
    assert await store.summary(CHANNEL) is None  # it retold what ann said
    assert await store.summary(other) is not None  # ann never spoke there

    await store.save_summary(CHANNEL, "old news", first, time.time() - 40 * 86400)
    await store.add_context(
        CHANNEL, "ancient", author_id="bob", author_name="Bob", created_at=time.time() - 40 * 86400
    )
    await prune_old(memory, 30)
    assert await store.summary(CHANNEL) is None
    assert [r.content for r in await store.context(CHANNEL, 0.0, 10)] == ["bob's aside"]

    reply = RecordingReply()
    await quick.run_command("forget", said("", "c2", author=ADMIN), reply)
    assert reply.last == "Forgot this conversation (1 messages)."
    assert await store.summary(other) is None
    await quick.run_command("forget", said("", author=ADMIN), reply)
    assert await store.context(CHANNEL, 0.0, 10) == []

    db = tmp_path / "muse.db"
    assert '"channel_context": []' in await export_conversation(str(db), CHANNEL)


async def test_the_prompt_prefix_holds_across_turns_with_a_summary_and_context(
    quick: Muse,
) -> None:
    await quick.recall.store.save_summary(CHANNEL, "Earlier, Ann planned a picnic.", 0, 0.0)
    prompts = spy_prompts(quick)
    reply = RecordingReply()
    await quick.recall.observe(said("it might rain", author="bob"))
    await quick.handle_message(said("where do we meet?"), reply)
    await quick.recall.observe(said("bring umbrellas", author="bob"))
    hits = quick.text_engine.prefix_cache.hits
    await quick.handle_message(said("what time?"), reply)
    first, second = (p.prompt.text for p in prompts)
    assert f"{SUMMARY_HEADER}\nEarlier, Ann planned a picnic." in first
    assert second.startswith(first)  # only new text at the end
    assert "Bob: bring umbrellas" in second[len(first) :]
    assert quick.text_engine.prefix_cache.hits == hits + 1


async def test_a_threads_prompt_prefix_holds_while_its_channel_moves_on(quick: Muse) -> None:
    quick.recall.settings = MemorySettings(thread_sees_channel=3)
    prompts = spy_prompts(quick)
    reply = RecordingReply()
    for i in range(5):
        await quick.recall.observe(said(f"before {i}", author="bob"))
    await quick.handle_message(said("what is going on?", thread="t1"), reply)
    for i in range(4):
        await quick.recall.observe(said(f"after {i}", author="bob"))
    hits = quick.text_engine.prefix_cache.hits
    await quick.handle_message(said("and now?", thread="t1"), reply)
    first, second = (p.prompt.text for p in prompts)
    assert [p.key for p in prompts] == [f"{CHANNEL}:t1"] * 2
    assert "before 1" not in first and "Bob: before 2" in first  # the newest 3 before
    assert second.startswith(first)
    added = second[len(first) :]
    assert "before" not in added and "after 0" not in added and "Bob: after 3" in added
    assert quick.text_engine.prefix_cache.hits == hits + 1


async def test_a_summary_is_summarised_again_with_the_turns_that_fell_out(
    quick: Muse, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = quick.recall.store
    await store.save_summary(CHANNEL, "Ann planned a picnic.", 0, time.time())
    ids = [
        await quick.memory.add_message(
            CHANNEL, "user", f"turn {i}", author_id="ann", author_name="Ann"
        )
        for i in range(3)
    ]
    asked: list[tuple[str | None, list[str]]] = []
    real = summaries.summary_ids

    def spy(tokenizer: Any, previous: str | None, lines: Any, words: int) -> list[int]:
        asked.append((previous, list(lines)))
        return real(tokenizer, previous, lines, words)

    monkeypatch.setattr(summaries, "summary_ids", spy)
    quick.recall.summarizer.request(CHANNEL, ids[1])  # the first two fell out
    await quick.recall.summarizer.settle()
    assert asked == [("Ann planned a picnic.", ["Ann: turn 0", "Ann: turn 1"])]
    summary = await store.summary(CHANNEL)
    assert summary is not None and (summary.revisions, summary.through_id) == (2, ids[1])
    assert summary.content  # the model's text, or the previous summary if it wrote none
    prompt = (await quick.recall.prompt(said("and now?"), "and now?")).prompt
    assert "turn 0" not in prompt.text and "Ann: turn 2" in prompt.text


# -- isolation: random interleavings across places ------------------------------------------

PLACES = [  # (workspace, channel, thread, is_dm)
    ("T1", "c1", None, False),
    ("T1", "c1", "9.1", False),
    ("T1", "c1", "9.2", False),
    ("T1", "c2", None, False),
    ("T1", "c2", "9.3", False),
    ("T2", "c1", None, False),  # the same channel id in another workspace
    (None, "D1", None, True),
]
_marks = itertools.count()


def visible_from(reader: int, writer: int) -> bool:
    """May a prompt for a message in PLACES[reader] show text said in PLACES[writer]?"""
    if reader == writer:
        return True
    ws, channel, thread, _ = PLACES[reader]
    wws, wchannel, wthread, _ = PLACES[writer]
    return thread is not None and wthread is None and (ws, channel) == (wws, wchannel)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(
        st.tuples(st.integers(0, len(PLACES) - 1), st.booleans()), min_size=1, max_size=10
    )
)
async def test_interleavings_never_leak_one_channels_text_into_anothers_prompt(
    quick: Muse, steps: list[tuple[int, bool]]
) -> None:
    prompts = spy_prompts(quick)
    asked: list[int] = []
    reply = RecordingReply()
    for place, addressed in steps:
        ws, channel, thread, dm = PLACES[place]
        msg = Message(
            platform="slack",
            workspace=ws,
            channel=channel,
            thread=thread,
            is_dm=dm,
            author_id="u",
            author_name="U",
            text=f"mark{place}z{next(_marks)}",
        )
        if addressed:
            await quick.handle_message(msg, reply)
            asked.append(place)
        else:
            await quick.recall.observe(msg)
    assert len(prompts) == len(asked)
    for place, recalled in zip(asked, prompts, strict=True):
        for writer in range(len(PLACES)):
            if not visible_from(place, writer):
                assert f"mark{writer}z" not in recalled.prompt.text, (place, writer)


@pytest.mark.parametrize(
    ("args", "thread", "window"),
    [
        ("", None, Window(None, 24)),
        ("", "t1", Window("t1", None)),
        ("thread", "t1", Window("t1", None)),
        ("last 6 hours", "t1", Window(None, 6)),
        ("  Last  2 h ", None, Window(None, 2)),
        ("12", None, Window(None, 12)),
    ],
)
def test_summarize_windows(args: str, thread: str | None, window: Window) -> None:
    assert parse_window(args, thread, MAX_HOURS) == window


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ("yesterday", "/summarize takes [thread | last N hours], e.g. /summarize last 6 hours."),
        ("last 0 hours", "/summarize can look back 1 to 168 hours, not 0."),
        ("thread", "/summarize thread works inside a thread; here, try last N hours."),
    ],
)
def test_summarize_windows_refused(args: str, error: str) -> None:
    with pytest.raises(OptionError) as refused:
        parse_window(args, None, MAX_HOURS)
    assert str(refused.value) == error
