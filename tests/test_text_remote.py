"""The OpenAI-compatible backend against a real server (`transformers serve` on the tiny
model), with faults injected by a proxy in front of it; and its prompt-budget tokenizer."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.shell import REPLY_PREFIX
from bot.features import register_commands
from bot.observe import Health
from core.chat.service import CUT_SHORT_MARK, Muse
from core.memory.store import Memory
from core.runtime.device import DeviceArbiter
from core.text.remote import OpenAIBackend
from core.text.settings import TextSettings
from tests.conftest import remote_text_settings
from tests.helpers import RecordingReply, message_rows, msg, never_ends, run_muse
from tests.openai_server import FaultProxy

pytestmark = pytest.mark.slow  # a transformers serve subprocess (once per session)


@pytest.fixture
async def proxy(openai_server: str) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(openai_server) as p:
        yield p


async def remote_muse(memory: Memory, settings: TextSettings) -> Muse:
    backend = OpenAIBackend(settings)
    await backend.load()
    core = Muse(memory=memory, text_engine=backend, arbiter=DeviceArbiter(), text_settings=settings)
    register_commands(core)
    return core


async def through(
    proxy: FaultProxy, memory: Memory, text_settings: TextSettings, **changes: Any
) -> Muse:
    return await remote_muse(memory, remote_text_settings(text_settings, proxy.url, **changes))


async def roles(muse: Muse) -> list[str]:
    return [m.role for m in await muse.memory.recent(msg("").conversation)]


async def test_a_429_with_retry_after_is_waited_out_and_answered(
    proxy: FaultProxy, memory: Memory, text_settings: TextSettings
) -> None:
    muse = await through(proxy, memory, text_settings, max_retries=2)
    proxy.faults = [("status", 429, 1)]
    reply = RecordingReply()
    await muse.handle_message(msg("hello"), reply)
    assert proxy.chat_requests == 2  # refused once, retried after Retry-After, answered
    assert not reply.ephemeral[-1] and reply.last
    assert await roles(muse) == ["user", "assistant"]
    await muse.close()


async def test_a_server_that_stays_busy_is_named_with_when_to_retry(
    proxy: FaultProxy, memory: Memory, text_settings: TextSettings
) -> None:
    muse = await through(proxy, memory, text_settings, max_retries=1)
    proxy.faults = [("status", 503, 1), ("status", 503, 7)]
    reply = RecordingReply()
    await muse.handle_message(msg("hello"), reply)
    assert proxy.chat_requests == 2
    assert reply.last == (
        "The model server is unavailable right now (HTTP 503); please try again in 7 s."
    )
    assert reply.ephemeral[-1]
    proxy.faults = [("status", 429, None)] * 2
    await muse.handle_message(msg("hello"), reply)
    assert reply.last == (
        "The model server is busy (too many requests); please try again in a little while."
    )
    await muse.handle_message(msg("and now?"), reply)  # the server is back: answered
    assert not reply.ephemeral[-1]
    assert await roles(muse) == ["user", "user", "user", "assistant"]
    await muse.close()


async def test_a_stream_dropped_mid_reply_keeps_the_text_and_marks_it(
    proxy: FaultProxy, memory: Memory, text_settings: TextSettings
) -> None:
    muse = await through(proxy, memory, text_settings, max_retries=0)
    proxy.faults = [("drop_after", 4)]  # the role chunk and three pieces of text
    reply = RecordingReply()
    await muse.handle_message(msg("tell me a story"), reply)
    shown = reply.pieces[0]
    assert shown[-1] == CUT_SHORT_MARK and len(shown) == 4
    stored = await muse.memory.recent(msg("").conversation)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[1].content == reply.last == "".join(shown)  # kept as shown
    await muse.close()


async def test_a_stalled_first_token_times_out_with_a_clear_message(
    proxy: FaultProxy, memory: Memory, text_settings: TextSettings
) -> None:
    muse = await through(proxy, memory, text_settings, first_token_seconds=0.5, max_retries=0)
    proxy.faults = [("stall", 20)]
    reply = RecordingReply()
    await muse.handle_message(msg("hello"), reply)
    assert reply.last == (
        "The model server did not start answering within 0.5 s; it may be overloaded. "
        "Please try again in a little while."
    )
    assert reply.ephemeral[-1]
    assert muse.text_engine.running == 0
    await muse.handle_message(msg("hello again"), reply)
    assert not reply.ephemeral[-1]  # no stall this time: answered
    await muse.close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there once the socket is closed


async def test_connection_refused_is_survived_and_readiness_says_unreachable(
    memory: Memory, text_settings: TextSettings
) -> None:
    settings = remote_text_settings(text_settings, closed_port_url(), max_retries=1)
    muse = await remote_muse(memory, settings)  # starts anyway: the server may come later
    health = Health(text=muse.text_engine, memory=memory)
    checks = await health.checks()
    assert checks["text_model"].startswith("unreachable: Connection error.")
    reply = RecordingReply()
    await muse.handle_message(msg("hello"), reply)
    assert reply.last == "I can't reach my model server right now; please try again in a minute."
    assert reply.ephemeral[-1]
    assert await roles(muse) == ["user"]
    await muse.close()


async def test_readiness_names_a_model_the_server_does_not_serve(
    openai_server: str, text_settings: TextSettings, tiny_text_dir: Path
) -> None:
    good = OpenAIBackend(remote_text_settings(text_settings, openai_server))
    assert await good.readiness() == "ok"
    wrong = OpenAIBackend(remote_text_settings(text_settings, openai_server, model="other/model"))
    assert await wrong.readiness() == (
        f"model 'other/model' not served there (it serves {tiny_text_dir})"
    )
    await good.close()
    await wrong.close()


def test_muse_chat_answers_through_transformers_serve(
    openai_server: str, tiny_text_dir: Path, tmp_path: Path
) -> None:
    """The README's two commands: `transformers serve MODEL`, then `muse chat` with the
    example config (pointed at this server and model)."""
    example = (Path(__file__).parents[1] / "examples" / "openai-server.toml").read_text()
    served = {
        'base_url = "http://localhost:8000/v1"': f'base_url = "{openai_server}"',
        'model = "Qwen/Qwen2.5-1.5B-Instruct"': f'model = "{tiny_text_dir}"',
    }
    for line, ours in served.items():
        assert line in example
        example = example.replace(line, ours)
    # Greedy and short: the tiny random model's sampled reply could be empty.
    example = example.replace("[text]\n", "[text]\ntemperature = 0.0\nmax_new_tokens = 16\n")
    config = tmp_path / "remote.toml"
    config.write_text(example, encoding="utf-8")
    db = tmp_path / "muse.db"
    done = run_muse(
        *("chat", "--config", str(config), "--db", str(db)),
        input="hello muse\n",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    replies = [line for line in done.stdout.splitlines() if line.startswith(REPLY_PREFIX)]
    assert len(replies) == 1
    stored = message_rows(db, "role", "content")
    assert stored == [("user", "hello muse"), ("assistant", replies[0].removeprefix(REPLY_PREFIX))]


def test_doctor_checks_the_text_server_instead_of_a_local_model(
    openai_server: str, tiny_text_dir: Path, tmp_path: Path
) -> None:
    from io import StringIO

    from bot.doctor import doctor

    def run(base_url: str) -> str:
        config = tmp_path / "muse.toml"
        config.write_text(
            f'[text]\nbackend = "openai"\nbase_url = "{base_url}"\nmodel = "{tiny_text_dir}"\n'
            "[image]\nenabled = false\n"
        )
        out = StringIO()
        doctor(str(config), str(tmp_path / "muse.db"), out)
        return out.getvalue()

    up = run(openai_server)
    assert f"ok    text server      {tiny_text_dir} at {openai_server}" in up.splitlines()
    assert "text model" not in up  # nothing to find in the hub cache: the server has it
    url = closed_port_url()
    down = run(url)
    assert f"FAIL  text server      {url}: unreachable: Connection error. ({url})" in down


async def test_cancel_closes_the_connection_to_the_server(
    proxy: FaultProxy, memory: Memory, text_settings: TextSettings
) -> None:
    """What makes a server stop generating (vLLM, transformers serve abort on disconnect)."""
    muse = await through(proxy, memory, text_settings, max_new_tokens=5000)
    never_ends(muse.text_engine)
    reply = RecordingReply()
    task = asyncio.create_task(muse.handle_message(msg("write a lot", author="ann"), reply))
    for _ in range(1000):  # until the request is at the server
        if proxy.open_now and muse.text_engine.running:
            break
        await asyncio.sleep(0.01)
    await muse.run_command("cancel", msg("", author="ann"), RecordingReply())
    await asyncio.wait_for(task, 30)
    assert reply.last == "Cancelled."
    await asyncio.wait_for(proxy.client_gone.wait(), 30)
    await muse.close()


async def test_max_in_flight_bounds_the_requests_open_at_the_server(
    proxy: FaultProxy, memory: Memory, text_settings: TextSettings
) -> None:
    muse = await through(proxy, memory, text_settings, max_in_flight=1)
    replies = [RecordingReply() for _ in range(3)]
    await asyncio.gather(
        *(
            muse.handle_message(msg("hello", channel=f"c{i}", author=f"u{i}"), reply)
            for i, reply in enumerate(replies)
        )
    )
    assert all(not r.ephemeral[-1] and r.last for r in replies)  # all answered
    assert proxy.chat_requests == 3 and proxy.most_open == 1
    await muse.close()
