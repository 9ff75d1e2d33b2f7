"""Scheduled posts as a user runs them: `muse chat` subprocesses, a config file, a restart."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from adapters.shell import REPLY_PREFIX
from tests.helpers import run_muse

pytestmark = pytest.mark.slow

# Feb 29 at midnight: a real schedule that cannot fire (or be caught up) while the test runs.
NEVER_SOON = "0 0 29 2 *"


def chat(lines: list[str], db: Path, config: Path, tiny_root: Path) -> str:
    done = run_muse(
        *("chat", "--tiny", "--db", str(db), "--config", str(config)),
        input="".join(f"{line}\n" for line in lines),
        tiny=tiny_root,
        cwd=db.parent,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def write_config(path: Path, declared: bool) -> None:
    text = "[scheduler]\nretries = 0\n"
    if declared:
        text += (
            '[[schedules]]\nname = "hello"\nplatform = "shell"\nchannel = "local"\n'
            f'cron = "{NEVER_SOON}"\nprompt = "Say hello to {{channel}}"\n'
        )
    path.write_text(text)


def test_a_chat_schedule_posts_once_and_survives_a_restart(
    tmp_path: Path, tiny_text_dir: Path
) -> None:
    db, config = tmp_path / "muse.db", tmp_path / "muse.toml"
    write_config(config, declared=True)
    out = chat(
        [
            f'/schedule add cron "{NEVER_SOON}" UTC text A poem for {{weekday}}',
            "/schedule run-now 2",
            "/schedule list",
        ],
        db,
        config,
        tiny_text_dir.parent,
    )
    assert "Schedule #2 added" in out and "Schedule #2 posted." in out
    assert f'#1 cron "{NEVER_SOON}" UTC · text · shell:local [config: hello]' in out

    write_config(config, declared=False)  # the config schedule is removed from the file
    listing = chat(["/schedule list"], db, config, tiny_text_dir.parent)
    assert "(disabled) [config: hello]" in listing
    assert f'#2 cron "{NEVER_SOON}" UTC · text · shell:local — A poem for {{weekday}}' in listing
    assert " posted" in listing.split("#2 ")[1]  # its history came through the restart

    with sqlite3.connect(db) as conn:
        runs = conn.execute("SELECT schedule_id, status FROM schedule_runs").fetchall()
        posts = conn.execute(
            "SELECT content FROM messages WHERE conversation = 'shell:-:local'"
            " AND role = 'assistant'"
        ).fetchall()
    assert runs == [(2, "posted")]
    assert len(posts) == 1 and f"{REPLY_PREFIX}{posts[0][0]}" in out
