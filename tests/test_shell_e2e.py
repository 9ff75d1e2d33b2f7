"""The terminal chat as a user runs it: a subprocess, lines in, replies out, memory on disk."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from adapters.shell import REPLY_PREFIX
from tests.helpers import message_rows, run_muse

pytestmark = pytest.mark.slow


def run_shell(lines: list[str], db: Path, tiny_root: Path) -> subprocess.CompletedProcess[str]:
    # Greedy: a sampled reply from random weights can be empty (end-of-text first), and
    # then there is nothing to store; greedy gives the same non-empty reply every run.
    config = db.parent / "greedy.toml"
    config.write_text("[text]\ntemperature = 0.0\nmax_new_tokens = 24\n", encoding="utf-8")
    return run_muse(
        *("chat", "--tiny", "--db", str(db), "--config", str(config)),
        input="".join(f"{line}\n" for line in lines),
        tiny=tiny_root,
        cwd=db.parent,
    )


def rows(db: Path) -> list[tuple[Any, ...]]:
    return message_rows(db, "conversation", "role", "content")


def test_two_messages_two_replies_and_memory_survives_restart(
    tmp_path: Path, tiny_text_dir: Path
) -> None:
    db = tmp_path / "muse.db"
    first = run_shell(["hello muse", "tell me a story"], db, tiny_text_dir.parent)
    assert first.returncode == 0, first.stderr
    replies = [line for line in first.stdout.splitlines() if line.startswith(REPLY_PREFIX)]
    assert len(replies) == 2
    stored = rows(db)
    assert [(c, r) for c, r, _ in stored] == [
        ("shell:-:local", "user"),
        ("shell:-:local", "assistant"),
    ] * 2
    assert stored[0][2] == "hello muse" and stored[2][2] == "tell me a story"
    # The stored replies are exactly what was printed.
    assert [REPLY_PREFIX + s[2] for s in stored if s[1] == "assistant"] == replies

    second = run_shell(["and another"], db, tiny_text_dir.parent)
    assert second.returncode == 0, second.stderr
    after = rows(db)
    assert after[:4] == stored  # the first exchange is still there after a restart
    assert after[4][1:] == ("user", "and another") and after[5][1] == "assistant"


def test_commands_work_through_the_pipe(tmp_path: Path, tiny_text_dir: Path) -> None:
    db = tmp_path / "muse.db"
    done = run_shell(
        ["hi", "/forget", "/persona set You are a pirate.", "/persona show", "/nope"],
        db,
        tiny_text_dir.parent,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Forgot this conversation (2 messages)." in out
    assert "Persona (custom): You are a pirate." in out
    assert "unknown command /nope" in out
    assert rows(db) == []


def test_imagine_through_the_shell_writes_pngs_with_metadata(
    tmp_path: Path, tiny_text_dir: Path
) -> None:
    from PIL import Image

    from core.image.engine import read_png_metadata

    line = (
        '/imagine a lighthouse at dawn --negative "blurry" --seed 42 --steps 2 --size 96x64'
        " --count 2"
    )
    done = run_shell(
        [line, line.replace("--count 2", "--count 1")], tmp_path / "m.db", tiny_text_dir.parent
    )
    assert done.returncode == 0, done.stderr
    paths = [Path(p) for p in done.stdout.split() if p.endswith(".png")]
    assert len(paths) == 3
    assert "seeds 42, 43" in done.stdout
    first = paths[0].read_bytes()
    with Image.open(paths[0]) as img:
        assert img.size == (96, 64)
    meta = read_png_metadata(first)
    assert meta["prompt"] == "a lighthouse at dawn" and meta["negative_prompt"] == "blurry"
    assert meta["seed"] == "42" and meta["steps"] == "2"
    # Same seed, same pixels: the third image (seed 42 again) equals the first.
    with Image.open(paths[0]) as a, Image.open(paths[2]) as b:
        assert a.tobytes() == b.tobytes()


def test_bytes_that_are_not_utf8_are_answered_under_a_strict_locale(
    tmp_path: Path, tiny_text_dir: Path
) -> None:
    env = {
        **os.environ,
        "MUSE_TINY_DIR": str(tiny_text_dir.parent),
        "HF_HUB_OFFLINE": "1",
        "PYTHONIOENCODING": "utf-8:strict",  # as under LANG=en_US.UTF-8
    }
    lines = b"hi\x00there\n" + b"caf\xe9 \xff\xfe broken\n" + b"hello again\n"
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", "--tiny", "--db", str(tmp_path / "m.db")],
        input=lines,
        capture_output=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, err  # EOF ended the chat
    assert out.count(REPLY_PREFIX) == 3 and "went wrong" not in out, out
    stored = [r[2] for r in rows(tmp_path / "m.db") if r[1] == "user"]
    assert stored == ["hi\x00there", "caf\ufffd \ufffd\ufffd broken", "hello again"]
    # A quiet terminal: only Muse's own warnings, no tracebacks, bars or library chatter.
    assert "Traceback" not in err and "\x1b[" not in err and "%|" not in err
    assert all(" WARNING bot." in line for line in err.splitlines()), err


def test_muse_run_without_tokens_is_a_quiet_terminal_chat(
    tmp_path: Path, tiny_text_dir: Path
) -> None:
    done = run_muse(
        "run",
        "--tiny",
        "--db",
        str(tmp_path / "m.db"),
        input="hello\n",
        tiny=tiny_text_dir.parent,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(REPLY_PREFIX) == 1
    assert all(" WARNING bot." in line for line in done.stderr.splitlines()), done.stderr
