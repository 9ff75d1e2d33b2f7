"""The feedback loop: generations kept as sent, regenerate (/retry, 🔄), KTO/DPO export,
approval by persona and model, LoRA personas bound with /persona set."""

from __future__ import annotations

import asyncio
import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from adapters.shell import ShellAdapter
from bot import cli
from core.chat.events import conversation_key
from core.chat.feedback import Reaction, reaction_added
from core.chat.prompt import render_messages
from core.chat.service import Muse
from core.memory.store import Memory
from core.runtime.device import DeviceArbiter
from core.text.engine import TextEngine
from core.text.settings import AdapterEntry
from core.text.tiny import build_tiny_lora
from core.tuning.export import export_feedback, opted_out, pseudonym
from tests.helpers import RecordingReply, msg, tiny_text_settings
from tests.schedule_fakes import RecordingOutbound

KEY = conversation_key("test", None, "c1")


async def ask(muse: Muse, text: str, author: str = "u1") -> str:
    reply = RecordingReply()
    sent = await muse.handle_message(msg(text, author=author), reply)
    assert sent is not None
    return sent.message_ids[0]


async def vote(memory: Memory, message_id: str, user: str, value: int) -> None:
    await memory.add_feedback("test", message_id, user, value, KEY)


async def test_a_reply_keeps_the_exact_messages_the_model_was_given(muse: Muse) -> None:
    await ask(muse, "hello there")
    second = await ask(muse, "and the sea?", author="u2")
    g = await muse.generations.by_reply(second)
    assert g is not None
    assert g.prompt[0] == {"role": "system", "content": muse.text_settings.system_prompt}
    assert g.prompt[1:] == [
        {"role": "user", "content": "u1: hello there"},
        {"role": "assistant", "content": g.prompt[2]["content"]},
        {"role": "user", "content": "u2: and the sea?"},
    ]
    # Rendering the stored messages gives back the very ids the engine was fed.
    tok = muse.text_engine.tokenizer
    ids = tok(render_messages(tok, g.prompt), add_special_tokens=False)["input_ids"]
    first = await muse.generations.latest(KEY)
    assert first is not None and first.id == g.id
    history = await muse.memory.recent(KEY)
    assert history[-1].content == g.completion
    assert g.asker == "test:u2" and g.authors == ["test:u1"]  # whose words the prompt holds
    assert g.model == muse.text_engine.model_name and g.persona == "default"
    assert len(ids) > 10


async def test_retry_regenerates_and_the_opposite_votes_make_a_dpo_row(muse: Muse) -> None:
    first = await ask(muse, "tell me about the moon")
    reply = RecordingReply()
    await muse.run_command("retry", msg(""), reply)
    [(again_id,)] = [(g.reply_ids[0],) for g in await muse.generations.all() if g.regenerates]
    one, two = await muse.generations.by_reply(first), await muse.generations.by_reply(again_id)
    assert one is not None and two is not None
    assert two.regenerates == one.id and two.prompt == one.prompt  # same prompt, both kept
    assert reply.last == two.completion
    await vote(muse.memory, first, "u1", -1)
    await vote(muse.memory, again_id, "u1", 1)
    await vote(muse.memory, again_id, "u3", 1)
    dpo = await export_feedback(muse.generations, "dpo", metadata=True)
    [row] = [json.loads(line) for line in dpo]
    key = await muse.generations.export_key()
    assert row == {
        "prompt": one.prompt,
        "chosen": [{"role": "assistant", "content": two.completion}],
        "rejected": [{"role": "assistant", "content": one.completion}],
        "user": pseudonym(key, "test:u1"),
        "persona": "default",
        "model": muse.text_engine.model_name,
    }
    kto = [json.loads(line) for line in await export_feedback(muse.generations, "kto")]
    assert all(set(r) == {"prompt", "completion", "label"} for r in kto)
    assert [(r["completion"][0]["content"], r["label"]) for r in kto] == [
        (one.completion, False),
        (two.completion, True),
    ]
    assert "u1" not in json.dumps(row["user"]) and row["user"].startswith("u_")


async def test_retry_with_nothing_to_regenerate_says_so(muse: Muse) -> None:
    reply = RecordingReply()
    await muse.run_command("retry", msg(""), reply)
    assert reply.last == "There is no reply of mine here to regenerate yet."


async def test_a_regenerate_reaction_posts_a_new_reply_where_the_first_is(muse: Muse) -> None:
    outbound = RecordingOutbound()
    muse.outbounds["test"] = outbound
    first = await ask(muse, "a poem please")
    reaction = Reaction("test", first, "u5", "🔄", None, "c1", by_muse=True)
    await reaction_added(muse, reaction)
    assert outbound.opened == 1 and len(outbound.reply.sent) == 1
    gens = await muse.generations.all()
    assert [g.regenerates for g in gens] == [None, gens[0].id]
    assert outbound.reply.sent[0] == gens[1].completion
    # 🔄 on something that is not Muse's reply does nothing.
    await reaction_added(muse, Reaction("test", "x9", "u5", "🔄", None, "c1", by_muse=False))
    assert outbound.opened == 1


async def test_the_shell_retry_command(muse: Muse, tmp_path: Path) -> None:
    out = io.StringIO()
    shell = ShellAdapter(muse, stdin=io.StringIO(""), stdout=out, image_dir=tmp_path)
    await shell.handle_line("hello muse")
    await shell.handle_line("/retry")
    gens = await muse.generations.all()
    assert len(gens) == 2 and gens[1].regenerates == gens[0].id
    assert gens[1].completion in out.getvalue()


async def test_purged_users_and_opted_out_channels_are_not_exported(muse: Muse) -> None:
    a = await ask(muse, "first question", author="u1")
    b = await ask(muse, "second question", author="u2")  # its prompt quotes u1 too
    other = msg("elsewhere", channel="c2", author="u3")
    sent = await muse.handle_message(other, RecordingReply())
    assert sent is not None
    for message_id in (a, b, sent.message_ids[0]):
        await muse.memory.add_feedback("test", message_id, "u9", 1, KEY)
    everything = await export_feedback(muse.generations, "kto")
    assert len(everything) == 3
    assert len(await export_feedback(muse.generations, "kto", ["test:c2"])) == 2
    await muse.memory.purge_user("test", "u1")
    left = [json.loads(x) for x in await export_feedback(muse.generations, "kto")]
    # u1 asked the first and is quoted in the second: only c2's reply is left.
    assert [r["prompt"][-1]["content"] for r in left] == ["u3: elsewhere"]
    assert opted_out("test:-:c2:t1", ["test:c2"]) and not opted_out(KEY, ["test:c2"])


async def test_stats_shows_approval_by_persona_and_by_model(muse: Muse) -> None:
    a = await ask(muse, "hello")
    await muse.run_command(
        "persona", msg("set Talk like a pirate.", platform_admin=True), RecordingReply()
    )
    b = await ask(muse, "ahoy")
    c = await ask(muse, "more")
    await vote(muse.memory, a, "u1", 1)
    await vote(muse.memory, b, "u1", 1)
    await vote(muse.memory, c, "u1", -1)
    await vote(muse.memory, c, "u2", -1)
    reply = RecordingReply()
    await muse.run_command("stats", msg(""), reply)
    model = muse.text_engine.model_name
    assert reply.last.splitlines() == [
        "Feedback here: 👍 2 · 👎 2",
        "Approval by persona: custom: Talk like a pirate. 33% (1👍/2👎) · default 100% (1👍/0👎)",
        f"Approval by model: {model} 50% (2👍/2👎)",
    ]


async def test_cli_exports_feedback_as_jsonl(muse: Muse, tmp_path: Path) -> None:
    first = await ask(muse, "hello")
    await vote(muse.memory, first, "u1", 1)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        argv = ["export", "--feedback", "--format", "kto", "--db", muse.memory.path]
        code = await asyncio.to_thread(cli.main, argv)  # the CLI runs its own event loop
    assert code == 0, err.getvalue()
    [row] = [json.loads(line) for line in out.getvalue().splitlines()]
    assert set(row) == {"prompt", "completion", "label"} and row["label"] is True  # TRL's
    assert err.getvalue().strip() == "1 kto rows"


@pytest.fixture
async def lora_muse(tiny_text_dir: Path, tmp_path: Path, memory: Memory) -> Muse:
    adapter = build_tiny_lora(tiny_text_dir, tmp_path / "pirate")
    entry = AdapterEntry(name="pirate", path=str(adapter))
    settings = tiny_text_settings(tiny_text_dir, adapters=[entry])
    engine = TextEngine(settings, DeviceArbiter())
    await engine.load()
    from bot.features import register_commands

    core = Muse(memory=memory, text_engine=engine, arbiter=engine.arbiter, text_settings=settings)
    register_commands(core)
    yield core  # type: ignore[misc]
    await engine.arbiter.close()


async def test_persona_set_binds_an_adapter_that_answers_and_is_recorded(lora_muse: Muse) -> None:
    muse = lora_muse
    admin = {"platform_admin": True}
    reply = RecordingReply()
    await muse.run_command("persona", msg("set --adapter pirat Arr.", **admin), reply)
    assert reply.last == "Unknown adapter 'pirat'; known adapters: pirate."
    await muse.run_command("persona", msg("set --adapter pirate Arr, matey.", **admin), reply)
    assert reply.last == "Persona set for this conversation with adapter pirate."
    await muse.run_command("persona", msg("show"), reply)
    assert reply.last == "Persona (custom, adapter pirate): Arr, matey."
    await ask(muse, "hello")
    g = await muse.generations.latest(KEY)
    assert g is not None and g.adapter == "pirate" and g.persona == "adapter pirate"
    # The adapter answered: the same prompt through the base model reads differently.
    tok = muse.text_engine.tokenizer
    ids = tok(render_messages(tok, g.prompt), add_special_tokens=False)["input_ids"]
    gen = muse.text_engine.settings
    from core.text.engine import generation_settings

    base = "".join([p async for p in muse.text_engine.stream(ids, generation_settings(gen))])
    with_adapter = "".join(
        [p async for p in muse.text_engine.stream(ids, generation_settings(gen), adapter="pirate")]
    )
    assert with_adapter == g.completion and base != g.completion
