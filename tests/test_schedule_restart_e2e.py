"""A scheduled post cut short by kill -9 or SIGTERM is posted exactly once after a restart
(real `muse chat` subprocesses on one database)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.shell import REPLY_PREFIX
from tests.helpers import start_muse

pytestmark = pytest.mark.slow

# Greedy and very long: the post is still being written when the process is stopped.
SLOW_POST = "[text]\ntemperature = 0.0\nmax_new_tokens = 20000\n"
QUICK_POST = "[text]\ntemperature = 0.0\nmax_new_tokens = 16\n"


def muse_chat(tmp_path: Path, tiny_root: Path, config: str) -> subprocess.Popen[str]:
    cfg = tmp_path / "muse.toml"
    cfg.write_text(config, encoding="utf-8")
    args = ("chat", "--tiny", "--config", str(cfg), "--db", str(tmp_path / "muse.db"))
    return start_muse(*args, tiny=tiny_root, cwd=tmp_path)


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def wait_for_run(db: Path, status: str) -> None:
    deadline = time.monotonic() + 45
    while not (db.exists() and query(db, f"SELECT 1 FROM schedule_runs WHERE status = '{status}'")):
        assert time.monotonic() < deadline, f"no run became {status}"
        time.sleep(0.05)


def due_schedule(tmp_path: Path, tiny_root: Path) -> None:
    """An hourly schedule whose slot (this minute) is due the moment Muse starts, and
    whose next slot is an hour away, so a slow run never sees a second one."""
    minute = datetime.now(UTC).minute
    proc = muse_chat(tmp_path, tiny_root, QUICK_POST)
    add = f'/schedule add cron "{minute} * * * *" UTC text A story\n'
    out, err = proc.communicate(add, timeout=50)
    assert "Schedule #1 added" in out, err
    db = tmp_path / "muse.db"
    with sqlite3.connect(db) as conn:  # as if it had existed for a while
        conn.execute("UPDATE schedules SET active_since = active_since - 120")
        conn.execute("DELETE FROM schedule_runs")


def restart_and_post(tmp_path: Path, tiny_root: Path) -> str:
    proc = muse_chat(tmp_path, tiny_root, QUICK_POST)
    wait_for_run(tmp_path / "muse.db", "posted")
    out, err = proc.communicate("", timeout=50)  # EOF: quit
    assert proc.returncode == 0, err
    return out


def assert_posted_once(tmp_path: Path, out: str) -> None:
    db = tmp_path / "muse.db"
    assert [r[0] for r in query(db, "SELECT status FROM schedule_runs")] == ["posted"]
    posts = query(
        db,
        "SELECT content FROM messages WHERE conversation = 'shell:-:local' AND role = 'assistant'",
    )
    assert len(posts) == 1
    assert out.count(REPLY_PREFIX) == 1 and f"{REPLY_PREFIX}{posts[0][0]}" in out


def test_kill_9_right_after_the_claim_posts_once_after_restart(
    tmp_path: Path, tiny_text_dir: Path
) -> None:
    due_schedule(tmp_path, tiny_text_dir.parent)
    first = muse_chat(tmp_path, tiny_text_dir.parent, SLOW_POST)
    wait_for_run(tmp_path / "muse.db", "claimed")
    first.kill()
    first.communicate(timeout=30)
    assert_posted_once(tmp_path, restart_and_post(tmp_path, tiny_text_dir.parent))


def test_sigterm_mid_post_is_retried_on_restart_without_a_traceback(
    tmp_path: Path, tiny_text_dir: Path
) -> None:
    due_schedule(tmp_path, tiny_text_dir.parent)
    first = muse_chat(tmp_path, tiny_text_dir.parent, SLOW_POST)
    wait_for_run(tmp_path / "muse.db", "claimed")
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=50)
    assert first.returncode == 0, err
    assert "Traceback" not in err and "raised an exception" not in err
    runs = query(tmp_path / "muse.db", "SELECT status, last_error FROM schedule_runs")
    assert runs == [("interrupted", "interrupted: Muse stopped while posting")]
    assert_posted_once(tmp_path, restart_and_post(tmp_path, tiny_text_dir.parent))
