"""Signals and crashes, with a real `muse chat` subprocess."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from adapters.shell import REPLY_PREFIX
from core.chat.service import INTERRUPTED_MARK
from tests.helpers import message_rows, start_muse

pytestmark = pytest.mark.slow

# Greedy decoding makes the tiny model's reply long and the same every run.
LONG_REPLIES = "[text]\ntemperature = 0.0\nmax_new_tokens = 20000\n"


def start(tmp_path: Path, tiny_root: Path, config: str) -> subprocess.Popen[str]:
    cfg = tmp_path / "muse.toml"
    cfg.write_text(config)
    args = ("chat", "--tiny", "--config", str(cfg), "--db", str(tmp_path / "muse.db"))
    return start_muse(*args, tiny=tiny_root, cwd=tmp_path)


def wait_for_reply_start(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + 120
    while REPLY_PREFIX not in seen or len(seen) < len(REPLY_PREFIX) + 20:
        assert time.monotonic() < deadline, "no reply started"
        seen += proc.stdout.read(1)
    return seen


def rows(db: Path) -> list[tuple[Any, ...]]:
    return message_rows(db, "role", "content")


def test_sigterm_ends_the_reply_with_a_mark_stores_it_and_exits_0(
    tmp_path: Path, tiny_text_dir: Path
) -> None:
    proc = start(
        tmp_path, tiny_text_dir.parent, LONG_REPLIES + "[muse]\nshutdown_timeout_seconds = 0.5\n"
    )
    assert proc.stdin is not None
    proc.stdin.write("tell me everything\n")
    proc.stdin.flush()
    seen = wait_for_reply_start(proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout is not None and proc.stderr is not None
    rest = proc.stdout.read()  # through the same buffer wait_for_reply_start read from
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0, err
    # The reply ends where it was, marked, and memory holds exactly what was shown.
    out = seen + rest
    [(_, asked), (role, stored)] = rows(tmp_path / "muse.db")
    assert (asked, role) == ("tell me everything", "assistant")
    assert stored.endswith(INTERRUPTED_MARK) and f"{REPLY_PREFIX}{stored}\n" in out
    # The database was closed cleanly: no WAL left behind to recover.
    assert not (tmp_path / "muse.db-wal").exists() or (tmp_path / "muse.db-wal").stat().st_size == 0


def test_kill_9_mid_reply_keeps_the_message_and_no_partial_reply(
    tmp_path: Path, tiny_text_dir: Path
) -> None:
    proc = start(tmp_path, tiny_text_dir.parent, LONG_REPLIES)
    assert proc.stdin is not None
    proc.stdin.write("tell me everything\n")
    proc.stdin.flush()
    wait_for_reply_start(proc)
    proc.kill()
    proc.wait(timeout=30)
    assert rows(tmp_path / "muse.db") == [("user", "tell me everything")]

    again = start(tmp_path, tiny_text_dir.parent, "[text]\nmax_new_tokens = 5\n")
    out, err = again.communicate("hello after the crash\n", timeout=120)
    assert again.returncode == 0, err
    assert out.count(REPLY_PREFIX) == 1
    roles = [r for r, _ in rows(tmp_path / "muse.db")]
    assert roles == ["user", "user", "assistant"]
