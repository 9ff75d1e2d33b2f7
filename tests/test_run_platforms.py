"""`muse run` as a user starts it: a real subprocess, config file, tokens from the environment,
talking to the local Discord and Slack stand-ins through `api_url` in the config."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

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


async def start_muse(tmp_path: Path, tiny_root: Path, config: str, env: dict[str, str]):
    cfg = tmp_path / "muse.toml"
    cfg.write_text(config)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        "--tiny",
        "--config",
        str(cfg),
        "--db",
        str(tmp_path / "muse.db"),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "MUSE_TINY_DIR": str(tiny_root), "HF_HUB_OFFLINE": "1", **env},
        cwd=tmp_path,
    )


async def test_muse_run_with_a_discord_token_serves_discord(
    tmp_path: Path, tiny_text_dir: Path
) -> None:
    async with DiscordStandin() as standin:
        config = f'[discord]\napi_url = "{standin.api_url}"\nsync_commands = "off"\n'
        proc = await start_muse(tmp_path, tiny_text_dir.parent, config, {"DISCORD_TOKEN": TOKEN})
        try:
            await standin.wait_ready(timeout=120)
            # The bot's ready event comes a little after READY; a mention sent before it is
            # still delivered, so no need to wait for it.
            await standin.send_user_message(GENERAL_CHANNEL_ID, f"<@{BOT_USER_ID}> hello")
            await standin.wait_until(
                lambda: bool(standin.bot_messages(GENERAL_CHANNEL_ID)), 120, "a reply"
            )
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, stderr.decode()[-3000:]
        assert standin.identify_payloads[0]["token"] == TOKEN
        log = stderr.decode()
        assert TOKEN not in log  # secrets never reach the log
        assert "terminal chat" not in log  # the shell did not start instead


async def test_muse_run_with_slack_tokens_serves_slack_over_socket_mode(
    tmp_path: Path, tiny_text_dir: Path
) -> None:
    async with SlackApiStandin() as slack:
        config = f'[slack]\napi_url = "{slack.api_url}"\n'  # mode = "socket" by default
        tokens = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN}
        proc = await start_muse(tmp_path, tiny_text_dir.parent, config, tokens)
        try:
            await slack.socket.wait_connected(timeout=120)
            event = app_mention_event(CHANNEL_ID, ALICE, f"{mention()} hello")
            envelope = await slack.socket.push_event(event_callback(event))
            await slack.socket.wait_for_ack(envelope, timeout=30)
            [post] = await slack.wait_for("chat.postMessage", timeout=120)
            assert post.params["thread_ts"] == event["ts"] and post.token == BOT_TOKEN
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(proc.communicate(), 60)
        log = stderr.decode()
        assert proc.returncode == 0, log[-3000:]
        assert BOT_TOKEN not in log and APP_TOKEN not in log
        assert not slack.socket.open_connections  # closed cleanly on SIGTERM
