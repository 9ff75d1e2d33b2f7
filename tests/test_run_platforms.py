"""`muse run` as a user starts it: a real subprocess, config file, tokens from the environment,
talking to the local Discord and Slack stand-ins through `api_url` in the config."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import start_muse_run
from tests.standins.discord_api import BOT_USER_ID, GENERAL_CHANNEL_ID, TOKEN, DiscordStandin
from tests.standins.slack_api import APP_TOKEN, BOT_TOKEN, SlackApiStandin
from tests.standins.slack_signing import (
    ALICE,
    CHANNEL_ID,
    app_mention_event,
    event_callback,
    mention,
)

pytestmark = pytest.mark.slow


@dataclass
class Running:
    """What `muse run` left once it exited: its stderr (the log) and exit status."""

    log: str = ""
    returncode: int | None = None


@contextlib.asynccontextmanager
async def muse_run(
    tmp_path: Path, tiny_root: Path, config: str, env: dict[str, str]
) -> AsyncIterator[Running]:
    """`muse run --tiny` in the background; SIGTERM and its exit once the block is done."""
    proc = start_muse_run(tmp_path, tiny_root, config, env)
    # Read both pipes from the start, so a chatty log can never fill one and stall Muse.
    output = asyncio.create_task(asyncio.to_thread(proc.communicate))
    running = Running()
    try:
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        _, running.log = await asyncio.wait_for(output, 60)
        running.returncode = proc.returncode


async def test_muse_run_with_a_discord_token_serves_discord(
    tmp_path: Path, tiny_text_dir: Path
) -> None:
    async with DiscordStandin() as standin:
        config = f'[discord]\napi_url = "{standin.api_url}"\nsync_commands = "off"\n'
        tokens = {"DISCORD_TOKEN": TOKEN}
        async with muse_run(tmp_path, tiny_text_dir.parent, config, tokens) as muse:
            await standin.wait_ready(timeout=120)
            # The bot's ready event comes a little after READY; a mention sent before it is
            # still delivered, so no need to wait for it.
            await standin.send_user_message(GENERAL_CHANNEL_ID, f"<@{BOT_USER_ID}> hello")
            await standin.wait_until(
                lambda: bool(standin.bot_messages(GENERAL_CHANNEL_ID)), 120, "a reply"
            )
        log = muse.log
        assert muse.returncode == 0, log[-3000:]
        assert standin.identify_payloads[0]["token"] == TOKEN
        assert TOKEN not in log  # secrets never reach the log
        assert "terminal chat" not in log  # the shell did not start instead


async def test_muse_run_with_slack_tokens_serves_slack_over_socket_mode(
    tmp_path: Path, tiny_text_dir: Path
) -> None:
    async with SlackApiStandin() as slack:
        config = f'[slack]\napi_url = "{slack.api_url}"\n'  # mode = "socket" by default
        tokens = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN}
        async with muse_run(tmp_path, tiny_text_dir.parent, config, tokens) as muse:
            await slack.socket.wait_connected(timeout=120)
            event = app_mention_event(CHANNEL_ID, ALICE, f"{mention()} hello")
            envelope = await slack.socket.push_event(event_callback(event))
            await slack.socket.wait_for_ack(envelope, timeout=30)
            [post] = await slack.wait_for("chat.postMessage", timeout=120)
            assert post.params["thread_ts"] == event["ts"] and post.token == BOT_TOKEN
        log = muse.log
        assert muse.returncode == 0, log[-3000:]
        assert BOT_TOKEN not in log and APP_TOKEN not in log
        assert not slack.socket.open_connections  # closed cleanly on SIGTERM


# -- failures a supervisor must be able to act on ------------------------------------------


async def run_until_exit(
    tmp_path: Path, tiny_root: Path, config: str, env: dict[str, str], timeout: float = 50
) -> Running:
    """`muse run --tiny` that is expected to stop by itself: its log and exit status."""
    proc = start_muse_run(tmp_path, tiny_root, config, env)
    _, log = await asyncio.wait_for(asyncio.to_thread(proc.communicate), timeout)
    return Running(log, proc.returncode)


def assert_refused(log: str, *expected: str) -> None:
    lines = [line for line in log.splitlines() if line.startswith("muse: ")]
    assert len(lines) == 1, log[-3000:]
    assert all(text in lines[0] for text in expected), lines[0]
    assert "Fix: " in lines[0] and "Traceback" not in log


async def test_a_rejected_discord_token_exits_78_naming_the_cause_and_fix(
    tmp_path: Path, tiny_text_dir: Path
) -> None:
    async with DiscordStandin() as standin:
        config = f'[discord]\napi_url = "{standin.api_url}"\nsync_commands = "off"\n'
        muse = await run_until_exit(tmp_path, tiny_text_dir.parent, config, {"DISCORD_TOKEN": "no"})
    assert muse.returncode == 78
    assert_refused(muse.log, "401 Unauthorized", "DISCORD_TOKEN")


async def test_a_disallowed_message_content_intent_exits_78(
    tmp_path: Path, tiny_text_dir: Path
) -> None:
    async with DiscordStandin() as standin:
        standin.gateway.allowed_privileged = 0  # the Portal switch is off
        config = f'[discord]\napi_url = "{standin.api_url}"\nsync_commands = "off"\n'
        muse = await run_until_exit(
            tmp_path, tiny_text_dir.parent, config, {"DISCORD_TOKEN": TOKEN}
        )
    assert muse.returncode == 78
    assert_refused(muse.log, "4014", "message_content_intent = false")


async def test_a_refused_slack_token_exits_78(tmp_path: Path, tiny_text_dir: Path) -> None:
    async with SlackApiStandin() as slack:
        config = f'[slack]\napi_url = "{slack.api_url}"\n'
        tokens = {"SLACK_BOT_TOKEN": "xoxb-revoked", "SLACK_APP_TOKEN": APP_TOKEN}
        muse = await run_until_exit(tmp_path, tiny_text_dir.parent, config, tokens)
    assert muse.returncode == 78
    assert_refused(muse.log, "Slack refused the bot token", "SLACK_BOT_TOKEN")


async def test_an_unreachable_api_is_retried_with_backoff_until_stopped(
    tmp_path: Path, tiny_text_dir: Path
) -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    config = f'[discord]\napi_url = "http://127.0.0.1:{port}/api/v10"\nsync_commands = "off"\n'
    proc = start_muse_run(tmp_path, tiny_text_dir.parent, config, {"DISCORD_TOKEN": TOKEN})
    assert proc.stderr is not None
    seen = ""
    while seen.count("retrying in") < 2:  # two attempts failed and were scheduled again
        line = await asyncio.wait_for(asyncio.to_thread(proc.stderr.readline), 50)
        assert line, seen[-3000:]
        seen += line
    proc.send_signal(signal.SIGTERM)
    _, rest = await asyncio.wait_for(asyncio.to_thread(proc.communicate), 50)
    assert proc.returncode == 0, rest[-3000:]
    assert "(attempt 1)" in seen and "(attempt 2)" in seen and "Traceback" not in seen + rest
