"""Signals and crashes, with a real `muse chat` subprocess."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from adapters.shell import REPLY_PREFIX
from tests.helpers import message_rows, start_muse

pytestmark = pytest.mark.slow

# Greedy decoding makes the tiny model's reply long and the same every run.
LONG_REPLIES = "[text]\ntemperature = 0.0\nmax_new_tokens = 20000\n"


def start(tmp_path: Path, tiny_root: Path, config: str) -> subprocess.Popen[str]:
    cfg = tmp_path / "muse.toml"
    cfg.write_text(config)
    args = ("chat", "--tiny", "--config", str(cfg), "--db", str(tmp_path / "muse.db"))
    return start_muse(*args, tiny=tiny_root, cwd=tmp_path)


def wait_for_reply_start(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + 120
    while REPLY_PREFIX not in seen or len(seen) < len(REPLY_PREFIX) + 20:
        assert time.monotonic() < deadline, "no reply started"
        seen += proc.stdout.read(1)


def rows(db: Path) -> list[tuple[Any, ...]]:
    return message_rows(db, "role", "content")


def test_sigterm_cancels_in_flight_tells_the_user_and_exits_0(
    tmp_path: Path, tiny_text_dir: Path
) -> None:
    proc = start(
        tmp_path, tiny_text_dir.parent, LONG_REPLIES + "[muse]\nshutdown_timeout_seconds = 0.5\n"
    )
    assert proc.stdin is not None
    proc.stdin.write("tell me everything\n")
    proc.stdin.flush()
    wait_for_reply_start(proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Muse is restarting; please ask again in a minute." in out
    assert rows(tmp_path / "muse.db") == [("user", "tell me everything")]
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
