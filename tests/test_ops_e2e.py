"""The operator's view of a running Muse, as a user starts it (a subprocess): /metrics after
real traffic through the terminal chat and through Discord (the stand-in), /readyz, JSON logs,
and a clear refusal when the endpoint's address is taken."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest

from adapters.shell import REPLY_PREFIX
from tests.helpers import http_get, metric, run_muse, scrape, start_muse, start_muse_run
from tests.standins.discord_api import BOT_USER_ID, GENERAL_CHANNEL_ID, TOKEN, DiscordStandin

pytestmark = pytest.mark.slow

REQUESTS = "muse_requests_total"
WAIT = 50.0  # under the per-test minute: a hang fails with what was seen


class Lines:
    """Every line of a child's pipe, read from the start by a thread (a full pipe would stall
    Muse), to be waited on."""

    def __init__(self, pipe: IO[str]) -> None:
        self.lines: list[str] = []
        self.ended = False
        threading.Thread(target=self._read, args=(pipe,), daemon=True).start()

    def _read(self, pipe: IO[str]) -> None:
        for line in iter(pipe.readline, ""):
            self.lines.append(line)
        self.ended = True

    async def wait_for(self, found: Callable[[str], bool], what: str) -> str:
        deadline = time.monotonic() + WAIT
        while True:
            for line in list(self.lines):
                if found(line):
                    return line
            assert not self.ended, f"no {what}; the output ended:\n{self.text[-3000:]}"
            assert time.monotonic() < deadline, f"no {what}:\n{self.text[-3000:]}"
            await asyncio.sleep(0.05)

    @property
    def text(self) -> str:
        return "".join(self.lines)


ENDPOINT = re.compile(r"metrics: serving (http://\S+)/metrics")


async def endpoint_url(log: Lines) -> str:
    line = await log.wait_for(lambda line: ENDPOINT.search(line) is not None, "endpoint URL")
    match = ENDPOINT.search(line)
    assert match is not None
    return match.group(1)


async def ready(url: str) -> dict[str, Any]:
    """Poll /readyz until it answers 200; its body."""
    deadline = time.monotonic() + WAIT
    while True:
        status, body = await http_get(f"{url}/readyz")
        if status == 200:
            return json.loads(body)
        assert status == 503, body
        assert time.monotonic() < deadline, f"not ready: {body}"
        await asyncio.sleep(0.1)


async def test_the_terminal_chat_serves_metrics_and_writes_json_logs(
    tmp_path: Path, tiny_text_dir: Path
) -> None:
    config = tmp_path / "muse.toml"
    config.write_text(
        '[metrics]\nlisten = "127.0.0.1:0"\n[logging]\nformat = "json"\n'
        "[image]\nenabled = false\n[vision]\nenabled = false\n"
        "[text]\ntemperature = 0.0\nmax_new_tokens = 8\n"
        '[[moderation]]\nid = "ads"\nwords = ["casino"]\nmessage = "No ads here."\n'
    )
    args = ("chat", "--tiny", "--log-level", "info", "--config", str(config))
    proc = start_muse(
        *args, "--db", str(tmp_path / "muse.db"), tiny=tiny_text_dir.parent, cwd=tmp_path
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    log, out = Lines(proc.stderr), Lines(proc.stdout)
    url = await endpoint_url(log)
    assert (await ready(url))["checks"] == {"text_model": "ok", "database": "ok"}
    proc.stdin.write("hello\nvisit my casino\n/forget\n/nope\n")
    proc.stdin.flush()
    await out.wait_for(lambda line: "unknown command /nope" in line, "reply to /nope")
    samples = await scrape(url)
    proc.stdin.close()  # end of input: the chat ends
    await asyncio.wait_for(asyncio.to_thread(proc.wait), WAIT)
    assert proc.returncode == 0, log.text[-3000:]

    assert out.text.count(REPLY_PREFIX) == 4
    shell = {"platform": "shell"}
    assert metric(samples, REQUESTS, **shell, kind="text", outcome="answered") == 1
    assert metric(samples, REQUESTS, **shell, kind="text", outcome="moderation") == 1
    assert metric(samples, REQUESTS, **shell, kind="command", outcome="answered") == 1
    assert metric(samples, REQUESTS, **shell, kind="command", outcome="rejected") == 1
    assert sum(v for (name, _), v in samples.items() if name == REQUESTS) == 4
    assert metric(samples, "muse_time_to_first_token_seconds_count") == 1
    assert metric(samples, "muse_e2e_request_latency_seconds_count", kind="text") == 1
    assert 1 <= metric(samples, "muse_generation_tokens_total") <= 8  # [text] max_new_tokens
    assert metric(samples, "muse_prompt_tokens_total") > 0
    [(labels, loaded)] = [(dict(k), v) for (n, k), v in samples.items() if n == "muse_model_info"]
    assert loaded == 1 and (labels["kind"], labels["device"], labels["dtype"]) == (
        "text",
        "cpu",
        "float32",
    )

    # JSON logs: every line is one object; a request's lines carry its id.
    records = [json.loads(line) for line in log.lines if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    refused = next(r for r in records if "moderation rule ads refused" in r["message"])
    assert re.fullmatch(r"[0-9a-f]{8}", refused["request_id"])


async def test_muse_run_on_discord_counts_replies_and_rate_limits(
    tmp_path: Path, tiny_text_dir: Path
) -> None:
    async with DiscordStandin() as standin:
        config = (
            f'[discord]\napi_url = "{standin.api_url}"\nsync_commands = "off"\n'
            '[metrics]\nlisten = "127.0.0.1:0"\n[image]\nenabled = false\n'
        )
        proc = start_muse_run(tmp_path, tiny_text_dir.parent, config, {"DISCORD_TOKEN": TOKEN})
        assert proc.stderr is not None
        log = Lines(proc.stderr)
        url = await endpoint_url(log)
        body = await ready(url)  # the model, the database, and Discord connected
        assert body["checks"] == {"text_model": "ok", "database": "ok", "discord": "ok"}
        # Discord refuses Muse's first message with a 429; discord.py waits and sends again.
        standin.rate_limit("POST", rf"/channels/{GENERAL_CHANNEL_ID}/messages", retry_after=0.1)
        await standin.send_user_message(GENERAL_CHANNEL_ID, f"<@{BOT_USER_ID}> hello")
        answered = {"platform": "discord", "kind": "text", "outcome": "answered"}
        deadline = time.monotonic() + WAIT
        while metric(samples := await scrape(url), REQUESTS, **answered) < 1:
            assert time.monotonic() < deadline, log.text[-3000:]
            await asyncio.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(asyncio.to_thread(proc.wait), WAIT)
    assert proc.returncode == 0, log.text[-3000:]
    assert standin.bot_messages(GENERAL_CHANNEL_ID)
    assert metric(samples, REQUESTS, **answered) == 1
    assert metric(samples, "muse_platform_api_errors_total", platform="discord", code="429") == 1
    assert "Traceback" not in log.text


def test_a_taken_address_stops_muse_with_one_line_and_the_fix(
    tmp_path: Path, tiny_text_dir: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "muse.toml"
        config.write_text(f'[metrics]\nlisten = "127.0.0.1:{port}"\n[image]\nenabled = false\n')
        done = run_muse(
            "chat", "--tiny", "--config", str(config), tiny=tiny_text_dir.parent, cwd=tmp_path
        )
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("muse: ")]
    assert len(lines) == 1, done.stderr
    assert f'[metrics] listen = "127.0.0.1:{port}": cannot listen there' in lines[0]
    assert "Fix: " in lines[0] and "Traceback" not in done.stderr
