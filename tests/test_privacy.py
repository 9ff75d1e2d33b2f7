"""Data requests, retention, and secrets kept out of logs."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from bot.privacy import prune_old
from bot.secrets import RedactSecrets, collect_secrets
from core.memory.store import Memory
from tests.helpers import run_muse


async def seeded(path: Path) -> None:
    mem = await Memory.open(path)
    await mem.add_message("discord:g:c", "user", "hi from ann", author_id="ann")
    await mem.add_message("discord:g:c", "assistant", "hello ann", author_name="Muse")
    await mem.add_message("discord:g:c", "user", "hi from bob", author_id="bob")
    await mem.add_message("slack:T:C", "user", "ann on slack", author_id="ann")
    await mem.add_feedback("discord", "m1", "ann", 1, "discord:g:c")
    await mem.close()


@pytest.mark.slow
async def test_export_and_purge_commands(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    await seeded(db)
    out = run_muse("export", "--conversation", "discord:g:c", "--db", str(db))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [m["content"] for m in data["messages"]] == ["hi from ann", "hello ann", "hi from bob"]

    done = run_muse("purge", "--user", "discord:ann", "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert "1 messages rows deleted, 1 feedback rows deleted" in done.stdout
    with sqlite3.connect(db) as conn:
        left = [r[0] for r in conn.execute("SELECT content FROM messages ORDER BY id")]
        assert conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 0
    # Only ann's messages on Discord went; bob's and ann's Slack messages stay.
    assert left == ["hello ann", "hi from bob", "ann on slack"]

    bad = run_muse("purge", "--user", "ann", "--db", str(db))
    assert bad.returncode == 2 and "platform:id" in bad.stderr


async def test_retention_prunes_old_messages(tmp_path: Path) -> None:
    mem = await Memory.open(tmp_path / "m.db")
    await mem.add_message("k", "user", "ancient", created_at=time.time() - 40 * 86400)
    await mem.add_message("k", "user", "recent")
    assert await prune_old(mem, 0) == 0  # 0 = keep forever
    assert await prune_old(mem, 30) == 1
    assert [m.content for m in await mem.recent("k")] == ["recent"]
    await mem.close()


class FakeSection(BaseModel):
    token: SecretStr = SecretStr("")
    name: str = "public"


def test_secrets_never_reach_log_output(caplog) -> None:  # type: ignore[no-untyped-def]
    token = "MTIzNDU2Nzg5MDEy.GhIjKl.secret-discord-token"
    redactor = RedactSecrets(collect_secrets({"discord": FakeSection(token=token)}))
    logger = logging.getLogger("test.secrets")
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(redactor)
    try:
        logger.warning("connecting with %s", token)
        logger.info("slack says xoxb-1234567890-abcdefghij is bad")
        try:
            raise RuntimeError(f"401 for token {token}")
        except RuntimeError:
            logger.exception("request failed")
    finally:
        caplog.handler.removeFilter(redactor)
    text = caplog.text
    assert token not in text and "xoxb-1234567890" not in text
    assert text.count("<hidden>") >= 3
    assert "public" not in collect_secrets({"x": FakeSection(token=token)})
