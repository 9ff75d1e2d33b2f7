from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from core.chat.events import conversation_key
from core.memory.store import MIGRATIONS, Memory


async def test_conversations_are_isolated(memory: Memory) -> None:
    a = conversation_key("discord", "g1", "c1")
    b = conversation_key("discord", "g1", "c1", "t1")
    await memory.add_message(a, "user", "in the channel", author_id="u1")
    await memory.add_message(b, "user", "in the thread", author_id="u1")
    assert [m.content for m in await memory.recent(a)] == ["in the channel"]
    assert [m.content for m in await memory.recent(b)] == ["in the thread"]
    await memory.forget(a)
    assert await memory.recent(a) == []
    assert len(await memory.recent(b)) == 1


def test_keys_cannot_collide_through_separators() -> None:
    assert conversation_key("slack", "T1", "C1:x") != conversation_key("slack", "T1", "C1", "x")
    assert conversation_key("discord", None, "c") != conversation_key("discord", "-", "c")
    assert conversation_key("shell", None, "local") == "shell:-:local"


async def test_concurrent_writes_lose_nothing(memory: Memory) -> None:
    keys = [conversation_key("slack", "T", f"C{i % 5}") for i in range(200)]
    await asyncio.gather(
        *(memory.add_message(k, "user", f"m{i}", author_id=f"u{i}") for i, k in enumerate(keys))
    )
    stored = [m for k in set(keys) for m in await memory.recent(k, 1000)]
    assert len(stored) == 200
    assert {m.content for m in stored} == {f"m{i}" for i in range(200)}


async def test_recent_returns_newest_in_order(memory: Memory) -> None:
    for i in range(10):
        await memory.add_message("k", "user", str(i))
    assert [m.content for m in await memory.recent("k", 3)] == ["7", "8", "9"]


async def test_survives_reopen_and_is_versioned_wal(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    mem = await Memory.open(path)
    await mem.add_message("k", "user", "kept", platform_message_id="p1")
    await mem.set_persona("k", "pirate", "admin")
    await mem.close()
    mem = await Memory.open(path)
    assert [m.content for m in await mem.recent("k")] == ["kept"]
    assert (await mem.find_by_platform_id("p1")).content == "kept"  # type: ignore[union-attr]
    assert await mem.get_persona("k") == "pirate"
    await mem.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_feedback_upserts_per_user(memory: Memory) -> None:
    await memory.add_feedback("discord", "m1", "u1", 1, "discord:g:c")
    await memory.add_feedback("discord", "m1", "u1", -1, "discord:g:c")
    await memory.add_feedback("discord", "m1", "u2", 1, "discord:g:c")
    assert await memory.feedback_counts("discord:g:") == (1, 1)
    assert await memory.feedback_counts("slack:") == (0, 0)


async def test_sql_injection_is_just_text(memory: Memory) -> None:
    evil = "x'); DROP TABLE messages; --"
    await memory.add_message(evil, "user", evil)
    assert [m.content for m in await memory.recent(evil)] == [evil]


async def test_a_locked_database_is_waited_for_not_failed(tmp_path: Path) -> None:
    """Another process (a backup, `muse purge`) holding the write lock only delays writes."""
    path = tmp_path / "busy.db"
    memory = await Memory.open(path)
    try:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # take the write lock
        write = asyncio.create_task(memory.add_message("k", "user", "still here", author_id="u"))
        await asyncio.sleep(0.5)  # long enough for the write to meet the lock
        assert not write.done()  # waiting on SQLite's busy handler, not failed
        other.execute("COMMIT")
        other.close()
        await asyncio.wait_for(write, 30)
        assert [m.content for m in await memory.recent("k")] == ["still here"]
    finally:
        await memory.close()
