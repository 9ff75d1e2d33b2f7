"""/model: several named text models, chosen per conversation by admins, stored, with a
prefix cache per model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from bot.features import register_commands
from core.chat.service import Muse
from core.memory.store import Memory
from core.text.catalog import ModelEntry, TextModels
from core.text.engine import TextEngine
from core.text.tiny import build_tiny_text_model
from tests.helpers import RecordingReply, msg, tiny_text_settings


@pytest.fixture(scope="module")
def other_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny model (other random weights) in its own folder."""
    return build_tiny_text_model(tmp_path_factory.mktemp("other") / "tiny-other", seed=1)


@pytest.fixture
async def other(other_dir: Path, text_engine: TextEngine) -> TextEngine:
    engine = TextEngine(tiny_text_settings(other_dir), text_engine.arbiter)
    await engine.load()
    return engine


def with_models(memory: Memory, default: TextEngine, other: TextEngine) -> Muse:
    models = TextModels(
        ModelEntry("default", default, "local"),
        {"other": ModelEntry("other", other, "local", "seed 1")},
    )
    core = Muse(
        memory=memory,
        text_engine=default,
        arbiter=default.arbiter,
        text_settings=default.settings,
        models=models,
    )
    register_commands(core)
    return core


@pytest.fixture
async def muse2(memory: Memory, text_engine: TextEngine, other: TextEngine) -> AsyncIterator[Muse]:
    yield with_models(memory, text_engine, other)


async def test_list_shows_every_model_and_which_answers_here(muse2: Muse) -> None:
    reply = RecordingReply()
    await muse2.run_command("model", msg("list"), reply)
    lines = reply.last.splitlines()
    assert lines[0] == "Text models (→ answers here):"
    assert lines[1].startswith("→ default: ") and lines[1].endswith("(in Muse)")
    assert lines[2].startswith("  other: ") and lines[2].endswith("(in Muse), seed 1")
    assert reply.ephemeral[-1]


async def test_admins_choose_per_conversation_and_the_choice_is_kept(
    muse2: Muse, text_engine: TextEngine, other: TextEngine, memory: Memory
) -> None:
    reply = RecordingReply()
    await muse2.run_command("model", msg("set other", channel="a"), reply)
    assert reply.last == "Only admins can use /model set."
    await muse2.run_command("model", msg("set other", channel="a", platform_admin=True), reply)
    assert reply.last == f"This channel now uses other ({other.model_name})."

    before = (text_engine.forward_passes, other.forward_passes)
    await muse2.handle_message(msg("hello there", channel="a"), reply)
    assert other.forward_passes > before[1] and text_engine.forward_passes == before[0]
    await muse2.handle_message(msg("hello there", channel="b"), reply)  # b keeps the default
    assert text_engine.forward_passes > before[0]

    # The prefix cache is the model's own: only `other` holds channel a's.
    key_a = msg("", channel="a").conversation
    assert key_a in other.prefix_cache and key_a not in text_engine.prefix_cache

    # A restart (a new Muse on the same database) keeps the choice.
    again = with_models(memory, text_engine, other)
    await again.run_command("model", msg("list", channel="a"), reply)
    assert "→ other: " in reply.last

    await again.run_command("model", msg("reset", channel="a", platform_admin=True), reply)
    assert reply.last.startswith("This channel uses the default model again")
    assert await memory.get_channel_model(key_a) is None


async def test_an_unknown_name_lists_the_known_ones_and_a_dropped_one_falls_back(
    muse2: Muse, text_engine: TextEngine, memory: Memory
) -> None:
    reply = RecordingReply()
    await muse2.run_command("model", msg("set huge", platform_admin=True), reply)
    assert reply.last == "No text model is called 'huge'; choose one of: default, other."
    assert reply.ephemeral[-1]
    # A name stored before the config dropped it: the default answers.
    await memory.set_channel_model(msg("").conversation, "retired", "admin")
    assert await muse2.text_for(msg("").conversation) is text_engine


async def test_forget_drops_the_cached_prefix_in_every_model(
    muse2: Muse, text_engine: TextEngine, other: TextEngine
) -> None:
    reply = RecordingReply()
    key = msg("").conversation
    await muse2.handle_message(msg("hello"), reply)
    await muse2.run_command("model", msg("set other", platform_admin=True), reply)
    await muse2.handle_message(msg("hello"), reply)
    assert key in text_engine.prefix_cache and key in other.prefix_cache
    await muse2.run_command("forget", msg("", platform_admin=True), reply)
    assert key not in text_engine.prefix_cache and key not in other.prefix_cache


def test_models_are_configured_as_text_models_tables(tmp_path: Path) -> None:
    path = tmp_path / "muse.toml"
    path.write_text(
        '[text]\nmodel = "Qwen/Qwen2.5-1.5B-Instruct"\n'
        '[[text.models]]\nname = "big"\nbackend = "openai"\n'
        'base_url = "http://gpu:8000/v1"\nmodel = "Qwen/Qwen2.5-72B-Instruct"\n'
        '[[text.models]]\nname = "small"\nmodel = "./models/small"\n'
    )
    config = load_config(path, env={"MUSE_TEXT_API_KEY": "sk-0"})
    assert config.text.api_key.get_secret_value() == "sk-0"  # [text]'s key from the environment
    big = config.text.for_model(config.text.models[0], "sk-1")
    assert (big.backend, big.base_url) == ("openai", "http://gpu:8000/v1")
    assert big.model == "Qwen/Qwen2.5-72B-Instruct"
    assert big.api_key.get_secret_value() == "sk-1"
    assert big.max_new_tokens == config.text.max_new_tokens  # the rest is [text]'s
    path.write_text('[[text.models]]\nname = "big"\nbackend = "openai"\nmodel = "m"\n')
    with pytest.raises(ConfigError, match='backend = "openai" needs base_url'):
        load_config(path)
