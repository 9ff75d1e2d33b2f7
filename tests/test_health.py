"""/livez and /readyz, and the endpoint's address."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.discord.adapter import DiscordAdapter
from adapters.discord.settings import DiscordSettings
from adapters.slack.adapter import SlackAdapter
from adapters.slack.settings import SlackSettings
from bot.app import build_muse
from bot.config import load_config
from bot.observe import Health, serving
from bot.settings import CannotListen, MetricsSettings
from core.memory.store import Memory
from core.runtime import metrics
from core.text.engine import TextEngine
from core.text.settings import TextSettings
from tests.helpers import http_get, metric, platform_muse, scrape
from tests.standins.discord_api import TOKEN, DiscordStandin
from tests.standins.slack_api import BOT_TOKEN, SlackApiStandin


@contextlib.asynccontextmanager
async def endpoint(health: Health) -> AsyncIterator[str]:
    async with serving(MetricsSettings(listen="127.0.0.1:0"), health) as url:
        assert url is not None
        yield url


async def readyz(url: str) -> tuple[int, dict[str, Any]]:
    status, body = await http_get(f"{url}/readyz")
    return status, json.loads(body)


async def test_readyz_is_503_until_the_model_is_loaded_and_the_database_open(
    tmp_path: Path, tiny_text_dir: Path, fresh_metrics: metrics.Metrics
) -> None:
    config_file = tmp_path / "muse.toml"
    config_file.write_text(f'[text]\nmodel = "{tiny_text_dir}"\n[image]\nenabled = false\n')
    config = load_config(config_file)
    health = Health(image_wanted=False)
    async with endpoint(health) as url:
        assert await http_get(f"{url}/livez") == (200, "ok\n")
        status, body = await readyz(url)
        assert status == 503
        assert body == {
            "ready": False,
            "checks": {"text_model": "loading", "database": "not open yet"},
        }
        muse = await build_muse(config, db=str(tmp_path / "muse.db"), health=health)
        try:
            status, body = await readyz(url)
            assert (status, body) == (
                200,
                {"ready": True, "checks": {"text_model": "ok", "database": "ok"}},
            )
            samples = await scrape(url)
            info = {
                "kind": "text",
                "model": str(tiny_text_dir),
                "device": "cpu",
                "dtype": "float32",
            }
            assert metric(samples, "muse_model_info", **info) == 1
            assert metric(samples, "muse_model_load_seconds", kind="text") > 0
            muse.closing = True  # a signal arrived: draining
            status, body = await readyz(url)
            assert status == 503 and body["checks"]["accepting_requests"] == "shutting down"
        finally:
            await muse.close()
        status, body = await readyz(url)
        assert status == 503 and body["checks"]["database"].startswith("not usable")
        assert await http_get(f"{url}/livez") == (200, "ok\n")  # the loop still answers


async def until(condition: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} after {timeout} s"
        await asyncio.sleep(0.02)


async def test_readyz_waits_for_each_configured_platform_to_connect(
    memory: Memory,
    text_engine: TextEngine,
    text_settings: TextSettings,
    standin: DiscordStandin,
) -> None:
    muse = platform_muse(memory, text_engine, text_settings)
    health = Health(platforms=["discord", "slack"], text=text_engine, memory=memory, muse=muse)
    discord_settings = DiscordSettings(token=TOKEN, api_url=standin.api_url, sync_commands="off")
    slack = SlackApiStandin()
    await slack.start()
    slack_settings = SlackSettings(
        bot_token=BOT_TOKEN,
        signing_secret="s" * 32,
        mode="http",
        http_host="127.0.0.1",
        http_port=0,
        api_url=slack.api_url,
    )
    build_discord = health.tracking(
        "discord", lambda: DiscordAdapter(muse, discord_settings, ready_timeout=0.05)
    )
    build_slack = health.tracking("slack", lambda: SlackAdapter(muse, slack_settings))
    tasks: list[asyncio.Task[None]] = []
    try:
        async with endpoint(health) as url:
            status, body = await readyz(url)
            assert status == 503
            assert body["checks"] == {
                "text_model": "ok",
                "database": "ok",
                "discord": "not connected",
                "slack": "not connected",
            }
            discord_adapter = build_discord()
            tasks.append(asyncio.create_task(discord_adapter.run()))
            await until(lambda: discord_adapter.connected, "discord not connected")
            status, body = await readyz(url)
            assert status == 503 and body["checks"]["discord"] == "ok"
            assert body["checks"]["slack"] == "not connected"
            slack_adapter = build_slack()
            tasks.append(asyncio.create_task(slack_adapter.run()))
            await until(lambda: slack_adapter.connected, "slack not listening")
            assert await readyz(url) == (
                200,
                {
                    "ready": True,
                    "checks": {
                        "text_model": "ok",
                        "database": "ok",
                        "discord": "ok",
                        "slack": "ok",
                    },
                },
            )
            tasks[0].cancel()  # Discord goes away
            with contextlib.suppress(asyncio.CancelledError):
                await tasks[0]
            status, body = await readyz(url)
            assert status == 503 and body["checks"]["discord"] == "not connected"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await slack.close()


async def test_an_address_in_use_is_refused_with_the_fix() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = MetricsSettings(listen=f"127.0.0.1:{port}")
        with pytest.raises(CannotListen) as refused:
            async with serving(settings, Health()):
                pass
    text = str(refused.value)
    assert f'[metrics] listen = "127.0.0.1:{port}": cannot listen there' in text
    assert "Fix: choose a free port" in text


async def test_off_by_default_serves_nothing() -> None:
    async with serving(MetricsSettings(), Health()) as url:
        assert url is None
