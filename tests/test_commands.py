from __future__ import annotations

import pytest

from core.chat.service import EMPTY_REPLY, Muse
from tests.conftest import BACKENDS
from tests.helpers import RecordingReply, msg


@pytest.mark.parametrize("text_backend", BACKENDS, indirect=True)
async def test_chat_reply_is_streamed_and_stored(muse: Muse) -> None:
    reply = RecordingReply()
    await muse.handle_message(msg("hello there", author="ann"), reply)
    stored = await muse.memory.recent(msg("x").conversation)
    assert [(m.role, m.author_name) for m in stored] == [("user", "ann"), ("assistant", "Muse")]
    assert stored[1].content == reply.last == "".join(reply.pieces[0])
    assert len(reply.pieces[0]) >= 2  # streamed in pieces, not delivered in one lump


async def test_persona_admin_only(muse: Muse) -> None:
    reply = RecordingReply()
    await muse.run_command("persona", msg("set You are a pirate."), reply)
    assert reply.last == "Only admins can set or reset this conversation's persona."
    assert reply.ephemeral[-1] is True
    await muse.run_command("persona", msg("set You are a pirate.", platform_admin=True), reply)
    await muse.run_command("persona", msg("show"), reply)
    assert reply.last == "Persona (custom): You are a pirate."


async def test_forget_clears_only_this_conversation(muse: Muse) -> None:
    reply = RecordingReply()
    await muse.handle_message(msg("one", channel="a"), reply)
    await muse.handle_message(msg("two", channel="b"), reply)
    await muse.run_command("forget", msg("", channel="a", platform_admin=True), reply)
    assert reply.last == "Forgot this conversation (2 messages)."
    assert reply.ephemeral[-1] is True  # the confirmation is the asker's alone
    assert await muse.memory.recent(msg("", channel="a").conversation) == []
    assert len(await muse.memory.recent(msg("", channel="b").conversation)) == 2


async def test_forget_in_shared_channels_is_for_admins_unless_configured(muse: Muse) -> None:
    from core.fair_use.settings import PolicySettings

    reply = RecordingReply()
    await muse.handle_message(msg("remember this", channel="shared"), reply)
    await muse.run_command("forget", msg("", channel="shared"), reply)
    assert reply.last.startswith("Only admins can use /forget in a shared channel")
    assert reply.ephemeral[-1] is True
    assert len(await muse.memory.recent(msg("", channel="shared").conversation)) == 2
    # A direct message's memory is its member's own.
    await muse.handle_message(msg("a secret", channel="dm", is_dm=True), reply)
    await muse.run_command("forget", msg("", channel="dm", is_dm=True), reply)
    assert reply.last == "Forgot this conversation (2 messages)."
    # [policy] forget = "anyone": every member may clear a shared channel.
    muse.policy.settings = PolicySettings(forget="anyone")
    await muse.run_command("forget", msg("", channel="shared"), reply)
    assert reply.last == "Forgot this conversation (2 messages)."


async def test_unknown_command_and_bot_authors(muse: Muse) -> None:
    reply = RecordingReply()
    await muse.run_command("nope", msg(""), reply)
    assert reply.last.startswith("unknown command /nope; known commands: /cancel, /forget")
    assert await muse.handle_message(msg("hi", author_is_bot=True), reply) is None


async def test_engine_fault_becomes_apology_with_error_id(muse: Muse, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    def boom(*args):  # type: ignore[no-untyped-def]
        raise RuntimeError("model exploded")

    monkeypatch.setattr(muse.text_engine, "_forward", boom)
    reply = RecordingReply()
    await muse.handle_message(msg("hello"), reply)
    assert reply.last.startswith("Sorry, something went wrong on my side (error id ")
    error_id = reply.last.split("error id ")[1].rstrip(").")
    assert any(error_id in r.getMessage() and r.exc_info for r in caplog.records)
    stored = await muse.memory.recent(msg("").conversation)
    assert [m.role for m in stored] == ["user"]  # no half reply stored as complete
    monkeypatch.undo()
    await muse.handle_message(msg("again"), reply)  # and it keeps serving
    assert len(await muse.memory.recent(msg("").conversation)) == 3


async def test_a_reply_the_model_ends_at_once_is_said_and_stored(muse: Muse) -> None:
    muse.text_engine.eos_ids = set(range(muse.text_engine.tokenizer.vocab_size + 1000))
    reply = RecordingReply()
    await muse.handle_message(msg("say nothing"), reply)
    assert reply.last == EMPTY_REPLY  # no platform posts an empty message
    stored = await muse.memory.recent(msg("x").conversation)
    assert [(m.role, m.content) for m in stored] == [
        ("user", "say nothing"),
        ("assistant", EMPTY_REPLY),
    ]


def test_a_line_starting_with_a_slash_is_a_command() -> None:
    from core.commands.registry import parse_command_line

    assert parse_command_line(" /Imagine a cat --seed 1 ") == ("imagine", "a cat --seed 1")
    assert parse_command_line("/forget") == ("forget", "")
    assert parse_command_line("hello /forget") is None
    assert parse_command_line("") is None


async def test_typed_calls_are_checked_like_text_commands(muse: Muse) -> None:
    from core.errors import OptionError

    calls: list[str] = []

    async def typed(ctx: object) -> None:
        calls.append("ran")
        raise OptionError("--width 100: must be a multiple of 8")

    reply = RecordingReply()
    await muse.run_command("forget", msg(""), reply, typed=typed)
    assert calls == ["ran"] and reply.last == "--width 100: must be a multiple of 8"
    assert reply.ephemeral[-1] is True
    await muse.run_command("nope", msg(""), reply, typed=typed)
    assert calls == ["ran"] and reply.last.startswith("unknown command /nope")
    await muse.run_command("schedule", msg(""), reply, typed=typed)  # not offered here
    assert calls == ["ran"]


async def test_commands_honour_the_block_list_and_the_allow_list(muse: Muse) -> None:
    from core.fair_use.settings import PolicySettings

    muse.policy.settings = PolicySettings(
        blocked_users=["test:troll"], allowed_channels=["test:c1"]
    )
    reply = RecordingReply()
    await muse.run_command("forget", msg("", author="troll"), reply)
    assert reply.last == "You can't use Muse here." and reply.ephemeral[-1]
    await muse.run_command("forget", msg("", channel="c2"), reply)
    assert reply.last == "Muse isn't enabled in this channel."
    await muse.run_command("forget", msg("", platform_admin=True), reply)
    assert reply.last.startswith("Forgot this conversation")


async def test_command_errors_are_worded_in_the_surfaces_terms(muse: Muse) -> None:
    from core.image.options import problem

    async def typed(ctx: object) -> None:
        raise problem("value", "width", 100, allowed="a multiple of 8 from 64 to 1024")

    reply = RecordingReply()
    await muse.run_command("help", msg(""), reply, typed=typed, terms="fields")
    assert reply.last == "width = 100: must be a multiple of 8 from 64 to 1024"
    await muse.run_command("help", msg(""), reply, typed=typed)  # flags by default
    assert reply.last == "--width 100: must be a multiple of 8 from 64 to 1024"
    assert reply.ephemeral == [True, True]


async def test_the_reply_is_told_work_is_under_way_only_once_every_check_passed(
    muse: Muse,
) -> None:
    from core.fair_use.moderation import Moderator
    from core.fair_use.settings import ModerationRule

    muse.moderator = Moderator([ModerationRule(id="no-gore", words=["gore"])])
    refused = RecordingReply()
    await muse.handle_message(msg("some gore please"), refused)
    muse.closing = True
    await muse.handle_message(msg("hello"), refused)
    assert refused.accepted == 0 and refused.ephemeral == [True, True]
    muse.closing = False
    accepted = RecordingReply()
    await muse.handle_message(msg("hello"), accepted)
    assert accepted.accepted == 1 and accepted.ephemeral == [False]
