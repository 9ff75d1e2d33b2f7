"""`muse run` as a user starts it: a real subprocess, config file, token from the environment,
talking to the local Discord stand-in through `[discord] api_url`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.standins.discord_api import BOT_USER_ID, GENERAL_CHANNEL_ID, TOKEN, DiscordStandin


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
