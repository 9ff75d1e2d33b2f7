"""Muse's Discord adapter, driven through the real discord.py against the local stand-in.

The adapter reaches the stand-in only through `[discord] api_url` (REST base, and the
gateway URL asked from that API), as it would reach an HTTP proxy in front of Discord.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import discord
import pytest

from adapters.common.image_requests import options_from_json, options_json
from adapters.common.textsplit import split_message
from adapters.common.threads import ThreadStore
from adapters.discord.adapter import DiscordAdapter
from adapters.discord.reply import group_files
from adapters.discord.settings import DiscordSettings
from core.chat.reply import Attachment, Target
from core.chat.service import Muse
from core.errors import UserError
from core.fair_use.moderation import Moderator
from core.fair_use.policy import Policy
from core.fair_use.settings import LimitSettings, ModerationRule, PolicySettings
from core.image.engine import ImageEngine
from core.image.options import MAX_SEED, ImageSettings, ImagineOptions, validate_imagine
from core.memory.store import Memory
from core.text.engine import TextEngine
from core.text.settings import TextSettings
from tests.conftest_image import image_engine, image_settings, tiny_image_dir  # noqa: F401
from tests.helpers import PacerClock, answered, eventually, platform_muse, with_scheduler
from tests.standins.discord_api import (
    ADMIN_USER_ID,
    ART_CHANNEL_ID,
    BOT_USER_ID,
    DM_CHANNEL_ID,
    GENERAL_CHANNEL_ID,
    GUILD_ID,
    MANAGE_GUILD,
    NORMAL_USER_ID,
    OTHER_BOT_USER_ID,
    OWNER_USER_ID,
    THREAD_ID,
    TOKEN,
    DiscordStandin,
    InteractionRecord,
    RecordedCall,
    reaction_add,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EPHEMERAL = 1 << 6
MESSAGES = r"/channels/%d/messages"
EDIT = r"/channels/%d/messages/\d+"
FOLLOWUP = r"/webhooks/\d+/[^/]+"
GENERAL_KEY = f"discord:{GUILD_ID}:{GENERAL_CHANNEL_ID}"
MENTION = f"<@{BOT_USER_ID}>"


# -- fixtures and helpers -------------------------------------------------------------------


def make_muse(
    memory: Memory,
    engine: TextEngine,
    settings: TextSettings,
    images: ImageEngine | None = None,
) -> Muse:
    return platform_muse(memory, engine, settings, images)


@pytest.fixture
def dmuse(memory: Memory, text_engine: TextEngine, text_settings: TextSettings) -> Muse:
    return make_muse(memory, text_engine, text_settings)


@pytest.fixture
def imuse(
    memory: Memory,
    text_engine: TextEngine,
    text_settings: TextSettings,
    image_engine: ImageEngine,  # noqa: F811
) -> Muse:
    return make_muse(memory, text_engine, text_settings, image_engine)


def settings_for(standin: DiscordStandin, **changes: Any) -> DiscordSettings:
    values: dict[str, Any] = {"edit_interval_seconds": 0.05, **changes}
    return DiscordSettings(token=TOKEN, api_url=standin.api_url, **values)


@contextlib.asynccontextmanager
async def running(
    muse: Muse, standin: DiscordStandin, **changes: Any
) -> AsyncIterator[DiscordAdapter]:
    """`adapter.run()` in a task until the bot is ready; cancelled (closed) afterwards."""
    adapter = DiscordAdapter(muse, settings_for(standin, **changes), ready_timeout=0.05)
    task = asyncio.create_task(adapter.run())
    try:
        deadline = time.monotonic() + 10
        while not adapter.bot.is_ready():
            if task.done():
                task.result()
                raise AssertionError("adapter.run() returned before the bot was ready")
            assert time.monotonic() < deadline, "bot not ready after 10 s"
            await asyncio.sleep(0.01)
        yield adapter
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        assert adapter.bot.is_closed()
        assert "discord" not in muse.outbounds


def bot_contents(standin: DiscordStandin, channel_id: int) -> list[str]:
    return [m["content"] for m in standin.bot_messages(channel_id)]


def writes(standin: DiscordStandin, channel_id: int) -> list[RecordedCall]:
    """Posts and edits the bot made in a channel, oldest first."""
    calls = standin.calls("POST", MESSAGES % channel_id) + standin.calls("PATCH", EDIT % channel_id)
    return sorted(calls, key=lambda c: c.at)


async def synced(standin: DiscordStandin) -> None:
    await standin.wait_for_call("PUT", r"/applications/\d+/commands")


async def slash_and_wait(
    standin: DiscordStandin, name: str, options: dict[str, Any] | None = None, **kwargs: Any
) -> tuple[InteractionRecord, list[dict[str, Any]]]:
    """Run a slash command; returns its record and the messages its answer shows (the
    interaction's response and followups, see `DiscordStandin.answers`)."""
    record = await standin.slash(name, options, **kwargs)
    return record, await standin.wait_answered(record)


def shown_publicly(standin: DiscordStandin, record: InteractionRecord) -> bool:
    """Whether anything an interaction's answer ever showed (a "thinking…" placeholder
    included, even if deleted later) could be seen by others than its user."""
    response = record.response_type in (4, 5) and not (record.response_data or {}).get("flags")
    followups = standin.calls("POST", rf"/webhooks/\d+/{record.token}")
    return response or any(not (c.json or {}).get("flags", 0) & EPHEMERAL for c in followups)


def readme_text() -> str:
    return (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def button_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message["components"] for c in row["components"]]


async def slow(pieces: list[str], delay: float) -> AsyncIterator[str]:
    for piece in pieces:
        await asyncio.sleep(delay)
        yield piece


async def user_message(adapter: DiscordAdapter, standin: DiscordStandin, text: str) -> Any:
    """A message the bot has seen, as a discord.py Message (not addressed to Muse)."""
    data = await standin.send_user_message(GENERAL_CHANNEL_ID, text)
    channel = adapter.bot.get_channel(GENERAL_CHANNEL_ID)
    assert isinstance(channel, discord.TextChannel)
    return await channel.fetch_message(int(data["id"]))


# -- chat -------------------------------------------------------------------------------------


async def test_mention_gets_a_streamed_reply_to_the_message(
    dmuse: Muse, standin: DiscordStandin
) -> None:
    async with running(dmuse, standin) as adapter:
        assert dmuse.outbounds["discord"] is adapter.outbound
        sent = await standin.send_user_message(GENERAL_CHANNEL_ID, f"{MENTION} hello there")
        [stored] = await answered(dmuse, GENERAL_KEY)

        first = standin.calls("POST", MESSAGES % GENERAL_CHANNEL_ID)[0]
        # Accepted: Muse shows it is typing until its answer has something to read.
        [typing, *_] = standin.calls("POST", rf"/channels/{GENERAL_CHANNEL_ID}/typing")
        assert typing.at < first.at
        reference = first.json["message_reference"]
        assert reference["message_id"] == int(sent["id"]) and not reference["fail_if_not_exists"]
        assert first.json["allowed_mentions"]["parse"] == []  # model output pings nobody
        # The final edit holds exactly the stored (final) text.
        assert standin.messages[int(stored.platform_message_id)]["content"] == stored.content
        user_turn = (await dmuse.memory.recent(GENERAL_KEY))[0]
        assert (user_turn.content, user_turn.author_name) == ("hello there", "Alice")
        # The adapter reached the stand-in through [discord] api_url alone.
        assert standin.calls("GET", r"/gateway") and len(standin.identify_payloads) == 1
        assert standin.identify_payloads[0]["intents"] & (1 << 15)  # message content


async def test_edits_are_paced_per_channel_and_end_with_the_exact_text(
    dmuse: Muse, standin: DiscordStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    interval = 0.15
    clock = PacerClock().install(monkeypatch)
    async with running(dmuse, standin, edit_interval_seconds=interval) as adapter:
        first = await user_message(adapter, standin, "one")
        second = await user_message(adapter, standin, "two")
        words_a = [f"alpha{i} " for i in range(40)]
        words_b = [f"beta{i} " for i in range(40)]
        sent_a, sent_b = await asyncio.gather(
            adapter.context.reply_to(first).stream(slow(words_a, 0.02)),
            adapter.context.reply_to(second).stream(slow(words_b, 0.02)),
        )
        calls = writes(standin, GENERAL_CHANNEL_ID)
        # Two replies streaming at once share the channel's pace: on the pacer's clock, every
        # write but the very first waited one full interval after the one before it, whichever
        # reply made it (a pace per reply would let each reply's first write through at once).
        assert len(calls) >= 4 and clock.waits == pytest.approx([interval] * (len(calls) - 1))
        for sent, words in ((sent_a, words_a), (sent_b, words_b)):
            [message_id] = sent.message_ids
            edits = standin.calls("PATCH", rf"/channels/{GENERAL_CHANNEL_ID}/messages/{message_id}")
            assert 2 <= len(edits) < len(words)  # it grew in steps, not once per word
            assert standin.messages[int(message_id)]["content"] == "".join(words)
            assert edits[-1].json["content"] == "".join(words)


async def test_long_reply_continues_in_split_messages(dmuse: Muse, standin: DiscordStandin) -> None:
    text = "Intro paragraph.\n\n" + "word " * 300 + "\n```python\n" + "x = 1\n" * 600 + "```\nEnd."
    async with running(dmuse, standin, edit_interval_seconds=0.0) as adapter:
        trigger = await user_message(adapter, standin, "long please")
        pieces = [text[i : i + 500] for i in range(0, len(text), 500)]
        sent = await adapter.context.reply_to(trigger).stream(slow(pieces, 0.0))
        expected = split_message(text, 2000)
        assert len(expected) >= 3 and expected[-1].startswith("```python\n")  # reopened
        shown = [standin.messages[int(i)]["content"] for i in sent.message_ids]
        assert shown == expected
        assert all(len(s) <= 2000 for s in shown) and sent.text == text
        # Continuations reply to the part before them, so the answer reads as a chain.
        for before, after in zip(sent.message_ids, sent.message_ids[1:], strict=False):
            assert standin.messages[int(after)]["message_reference"]["message_id"] == before


async def test_status_message_becomes_the_answer(dmuse: Muse, standin: DiscordStandin) -> None:
    async with running(dmuse, standin) as adapter:
        trigger = await user_message(adapter, standin, "busy?")
        reply = adapter.context.reply_to(trigger)
        await reply.status("You're #2 in line — about 9 s.")
        await reply.status("You're #1 in line — about 4 s.")
        sent = await reply.send("Here you go.")
        [post] = standin.calls("POST", MESSAGES % GENERAL_CHANNEL_ID)
        edits = standin.calls("PATCH", EDIT % GENERAL_CHANNEL_ID)
        assert post.json["content"].startswith("You're #2")
        assert [e.json["content"] for e in edits] == [
            "You're #1 in line — about 4 s.",
            "Here you go.",
        ]
        assert sent.message_ids == (post.response["id"],)


async def test_allowed_places_and_guild_command_sync(dmuse: Muse, standin: DiscordStandin) -> None:
    # Channels are the core's [policy] allowed_channels; a thread counts as its channel.
    dmuse.policy = Policy(PolicySettings(allowed_channels=[f"discord:{ART_CHANNEL_ID}"]))
    async with running(dmuse, standin, sync_commands="guild", allowed_guilds=[str(GUILD_ID)]):
        await standin.wait_for_call("PUT", rf"/applications/\d+/guilds/{GUILD_ID}/commands")
        assert None not in standin.synced_commands  # nothing published globally
        await standin.send_user_message(GENERAL_CHANNEL_ID, f"{MENTION} over here")
        await standin.send_user_message(THREAD_ID, f"{MENTION} in a thread of #art")
        await answered(dmuse, f"discord:{GUILD_ID}:{ART_CHANNEL_ID}:{THREAD_ID}")
        assert not standin.bot_messages(GENERAL_CHANNEL_ID)


async def test_servers_outside_allowed_guilds_are_refused(
    dmuse: Muse, standin: DiscordStandin
) -> None:
    async with running(dmuse, standin, allowed_guilds=[str(GUILD_ID + 1)]):
        await synced(standin)
        await standin.send_user_message(GENERAL_CHANNEL_ID, f"{MENTION} anyone?")
        record = await standin.slash("forget")
        await standin.wait_for_call("POST", rf"/interactions/{record.id}/[^/]+/callback")
        assert record.response_data is not None and record.response_data["flags"] == 64
        assert record.response_data["content"] == "Muse is not enabled in this channel."
        # The mention went unanswered: the refusal above is all Muse said there.
        assert bot_contents(standin, GENERAL_CHANNEL_ID) == [record.response_data["content"]]


async def test_rate_limited_post_and_edit_still_deliver_everything(
    dmuse: Muse, standin: DiscordStandin
) -> None:
    async with running(dmuse, standin) as adapter:
        trigger = await user_message(adapter, standin, "go")
        standin.rate_limit("POST", MESSAGES % GENERAL_CHANNEL_ID, retry_after=0.2)
        standin.rate_limit("PATCH", EDIT % GENERAL_CHANNEL_ID, retry_after=0.2)
        words = [f"w{i} " for i in range(30)]
        sent = await adapter.context.reply_to(trigger).stream(slow(words, 0.02))
        assert standin.calls("POST", MESSAGES % GENERAL_CHANNEL_ID, status=429)
        assert standin.calls("PATCH", EDIT % GENERAL_CHANNEL_ID, status=429)
        [message_id] = sent.message_ids
        assert standin.messages[int(message_id)]["content"] == "".join(words)


async def test_replies_to_muse_and_threads_trigger_answers(
    dmuse: Muse, standin: DiscordStandin
) -> None:
    thread_key = f"discord:{GUILD_ID}:{ART_CHANNEL_ID}:{THREAD_ID}"
    async with running(dmuse, standin):
        await standin.send_user_message(GENERAL_CHANNEL_ID, f"{MENTION} first")
        [first] = await answered(dmuse, GENERAL_KEY)
        bot_message = standin.messages[int(first.platform_message_id)]
        # A reply to Muse's message, without a mention, is addressed to Muse.
        reply = await standin.send_user_message(
            GENERAL_CHANNEL_ID,
            "and then?",
            message_reference=int(bot_message["id"]),
            referenced_message=bot_message,
        )
        await answered(dmuse, GENERAL_KEY, 2)
        assert await dmuse.memory.find_by_platform_id(reply["id"]) is not None

        # In a thread: ignored until Muse is mentioned there, then every message counts.
        ignored = await standin.send_user_message(THREAD_ID, "just chatting")
        await standin.send_user_message(THREAD_ID, f"{MENTION} join us")
        await answered(dmuse, thread_key)
        later = await standin.send_user_message(THREAD_ID, "what do you think?")
        await answered(dmuse, thread_key, 2)
        assert await dmuse.memory.find_by_platform_id(ignored["id"]) is None
        assert await dmuse.memory.find_by_platform_id(later["id"]) is not None
        assert await dmuse.memory.recent(GENERAL_KEY)  # memory per channel, per thread
        assert {int(m["channel_id"]) for m in standin.bot_messages()} == {
            GENERAL_CHANNEL_ID,
            THREAD_ID,
        }
    # The thread is remembered in SQLite, so a restarted bot keeps answering there.
    assert await ThreadStore(dmuse.memory.connection, "discord").contains(THREAD_ID)


async def test_ignores_itself_and_other_bots_but_answers_dms(
    dmuse: Muse, standin: DiscordStandin
) -> None:
    async with running(dmuse, standin):
        own = await standin.send_user_message(
            GENERAL_CHANNEL_ID, f"{MENTION} me", author=BOT_USER_ID
        )
        other = await standin.send_user_message(
            GENERAL_CHANNEL_ID, f"{MENTION} hi bot", author=OTHER_BOT_USER_ID
        )
        dm = await standin.send_user_message(DM_CHANNEL_ID, "hello in private")
        [stored] = await answered(dmuse, f"discord:-:{DM_CHANNEL_ID}")
        [reply] = standin.bot_messages(DM_CHANNEL_ID)
        assert reply["message_reference"]["message_id"] == dm["id"]
        assert reply["content"] == stored.content
        for ignored in (own, other):
            assert await dmuse.memory.find_by_platform_id(ignored["id"]) is None
        assert [m["id"] for m in standin.bot_messages(GENERAL_CHANNEL_ID)] == [own["id"]]


async def test_sharded_bot_without_message_content_still_answers_mentions(
    dmuse: Muse, standin: DiscordStandin
) -> None:
    async with running(dmuse, standin, sharded=True, message_content_intent=False):
        [identify] = standin.identify_payloads
        assert identify["shard"] == [0, 1] and not identify["intents"] & (1 << 15)
        await standin.send_user_message(GENERAL_CHANNEL_ID, "not for Muse")
        await standin.send_user_message(GENERAL_CHANNEL_ID, f"{MENTION} are you there?")
        await answered(dmuse, GENERAL_KEY)
        turns = [m.content for m in await dmuse.memory.recent(GENERAL_KEY) if m.role == "user"]
        assert turns == ["are you there?"]


async def test_intents_are_the_documented_minimum(dmuse: Muse, standin: DiscordStandin) -> None:
    from adapters.discord.client import INTENTS, MESSAGE_CONTENT
    from tests.standins import discord_payloads as p

    minimum = (
        p.INTENT_GUILDS
        | p.INTENT_GUILD_MESSAGES
        | p.INTENT_DIRECT_MESSAGES
        | p.INTENT_GUILD_MESSAGE_REACTIONS
        | p.INTENT_DIRECT_MESSAGE_REACTIONS
    )
    async with running(dmuse, standin):
        assert standin.identify_payloads[-1]["intents"] == minimum | p.INTENT_MESSAGE_CONTENT
    async with running(dmuse, standin, message_content_intent=False):
        assert standin.identify_payloads[-1]["intents"] == minimum
    # The README names each intent Muse asks for, and why.
    readme = readme_text()
    for name in [*INTENTS, MESSAGE_CONTENT[0]]:
        assert f"`{name}`" in readme, name


# -- slash commands -------------------------------------------------------------------------


async def test_forget_clears_this_channels_memory(dmuse: Muse, standin: DiscordStandin) -> None:
    async with running(dmuse, standin):
        await synced(standin)
        await standin.send_user_message(GENERAL_CHANNEL_ID, f"{MENTION} remember me")
        await answered(dmuse, GENERAL_KEY)
        # A shared channel's memory: members are refused ([policy] forget = "admins")...
        refused, [no] = await slash_and_wait(standin, "forget", user=NORMAL_USER_ID)
        assert no["content"].startswith("Only admins can use /forget in a shared channel")
        assert len(await dmuse.memory.recent(GENERAL_KEY)) == 2
        # ...an admin clears it; both answers are seen by their user alone, at once.
        record, [done] = await slash_and_wait(standin, "forget", user=ADMIN_USER_ID)
        assert done["content"] == "Forgot this conversation (2 messages)."
        for answer in (refused, record):
            assert answer.response_type == 4 and not shown_publicly(standin, answer)
        assert await dmuse.memory.recent(GENERAL_KEY) == []


async def test_forget_is_offered_to_everyone_when_configured(
    dmuse: Muse, standin: DiscordStandin
) -> None:
    dmuse.policy = Policy(PolicySettings(forget="anyone"))
    async with running(dmuse, standin):
        await synced(standin)
        assert standin.synced_command("forget")["default_member_permissions"] is None
        assert "forget" in standin.visible_commands(NORMAL_USER_ID)
        record, [done] = await slash_and_wait(standin, "forget", user=NORMAL_USER_ID)
        assert done["content"] == "Forgot this conversation (0 messages)."
        assert not shown_publicly(standin, record)


async def test_admin_commands_are_hidden_from_members_and_refused_if_called_anyway(
    dmuse: Muse, standin: DiscordStandin
) -> None:
    with_scheduler(dmuse)  # /schedule, so the adapter offers it
    persona = "Only admins can set or reset this conversation's persona."
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("persona-admin set", {"prompt": "Talk like a pirate."}, persona),
        ("persona-admin reset", {}, persona),
        (
            "schedule add",
            {
                "mode": "daily",
                "when": "09:00",
                "timezone": "UTC",
                "kind": "text",
                "prompt": "A haiku",
            },
            "Only admins can use /schedule",
        ),
        ("schedule run-now", {"number": 1}, "Only admins can use /schedule"),
        ("schedule remove", {"number": 1}, "Only admins can use /schedule"),
        ("sync", {}, "Only admins can use /sync"),
    ]
    async with running(dmuse, standin):
        await synced(standin)
        # Published for admins only (Manage Server); the server-bound ones not in DMs.
        for name in ("persona-admin", "schedule", "sync", "forget"):
            command = standin.synced_command(name)
            assert command["default_member_permissions"] == str(MANAGE_GUILD), name
            if name != "forget":  # a DM's memory is its member's own
                assert command["dm_permission"] is False and command["contexts"] == [0], name
        everyone = ["cancel", "help", "persona", "retry", "stats"]
        assert standin.visible_commands(NORMAL_USER_ID) == everyone
        assert standin.visible_commands(ADMIN_USER_ID) == sorted(
            [*everyone, "forget", "persona-admin", "schedule", "sync"]
        )
        assert standin.visible_commands(NORMAL_USER_ID, in_dm=True) == sorted([*everyone, "forget"])
        # Called anyway (an old client, a role allowed in the server's settings): still
        # refused, and privately from the start.
        for name, options, refusal in cases:
            refused, [no] = await slash_and_wait(standin, name, options, user=NORMAL_USER_ID)
            assert no["content"].startswith(refusal), (name, no["content"])
            assert refused.response_type == 4 and not shown_publicly(standin, refused), name
            _, [allowed] = await slash_and_wait(standin, name, options, user=ADMIN_USER_ID)
            assert "Only admins" not in allowed["content"], (name, allowed)
            if name == "persona-admin set":
                assert await dmuse.memory.get_persona(GENERAL_KEY) == "Talk like a pirate."
            if name == "schedule add":
                assert allowed["content"].startswith("Schedule #1 added")
            if name == "sync":
                assert standin.synced_commands[GUILD_ID]  # published for this server
        assert await dmuse.memory.get_persona(GENERAL_KEY) is None  # reset by the admin


async def test_reactions_become_feedback_and_cross_cancels(
    dmuse: Muse, standin: DiscordStandin
) -> None:
    async with running(dmuse, standin):
        await synced(standin)
        await standin.send_user_message(GENERAL_CHANNEL_ID, f"{MENTION} rate me")
        [stored] = await answered(dmuse, GENERAL_KEY)
        bot_message_id = int(stored.platform_message_id)
        await standin.react(bot_message_id, NORMAL_USER_ID, "👍")
        await standin.react(bot_message_id, ADMIN_USER_ID, "👎🏽")
        db = dmuse.memory.connection

        async def rows() -> list[tuple[Any, ...]]:
            async with db.execute(
                "SELECT message_id, user_id, value, conversation FROM feedback ORDER BY value"
            ) as cur:
                return [tuple(r) for r in await cur.fetchall()]

        assert await eventually(lambda: _at_least(rows, 2)) == [
            (str(bot_message_id), str(ADMIN_USER_ID), -1, GENERAL_KEY),
            (str(bot_message_id), str(NORMAL_USER_ID), 1, GENERAL_KEY),
        ]
        _, [stats] = await slash_and_wait(standin, "stats")
        model = dmuse.text_engine.model_name
        assert stats["content"].splitlines() == [
            "Feedback here: 👍 1 · 👎 1",
            "Approval by persona: default 50% (1👍/1👎)",
            f"Approval by model: {model} 50% (1👍/1👎)",
        ]

        removal = reaction_add(bot_message_id, GENERAL_CHANNEL_ID, ADMIN_USER_ID, "👎🏽")
        await standin.dispatch("MESSAGE_REACTION_REMOVE", removal)
        await eventually(lambda: _exactly(rows, 1))

        # ❌ on your own message cancels what you asked for.
        dmuse.text_engine.eos_ids = set()
        dmuse.text_settings = dmuse.text_settings.model_copy(update={"max_new_tokens": 100_000})
        ask = await standin.send_user_message(GENERAL_CHANNEL_ID, f"{MENTION} talk forever")
        await eventually(lambda: _true(dmuse.text_engine.running > 0))
        await standin.react(int(ask["id"]), NORMAL_USER_ID, "❌")
        await eventually(lambda: _true("Cancelled." in bot_contents(standin, GENERAL_CHANNEL_ID)))
        await eventually(lambda: _true(dmuse.text_engine.running == 0))


async def test_answers_carry_a_regenerate_button_that_answers_again(
    dmuse: Muse, standin: DiscordStandin
) -> None:
    async with running(dmuse, standin):
        await synced(standin)
        await standin.send_user_message(GENERAL_CHANNEL_ID, f"{MENTION} a poem please")
        [stored] = await answered(dmuse, GENERAL_KEY)
        answer_id = int(stored.platform_message_id)

        async def button() -> list[str]:
            return (
                button_ids(standin.messages[answer_id])
                if standin.messages[answer_id].get("components")
                else []
            )

        assert await eventually(button) == ["muse:regen"]
        assert standin.messages[answer_id]["content"] == stored.content  # the text stays
        click = await standin.click("muse:regen", answer_id, user=NORMAL_USER_ID)
        await eventually(lambda: _true(len(standin.answers(click)) > 0))
        await eventually(lambda: _at_least(dmuse.generations.all, 2))
        first, again = await dmuse.generations.all()
        assert again.regenerates == first.id and again.prompt == first.prompt
        [shown] = standin.answers(click)
        assert shown["content"] == again.completion


async def _at_least(fetch: Callable[[], Awaitable[list[Any]]], n: int) -> list[Any]:
    found = await fetch()
    return found if len(found) >= n else []


async def _exactly(fetch: Callable[[], Awaitable[list[Any]]], n: int) -> bool:
    return len(await fetch()) == n


async def _true(value: bool) -> bool:
    return value


# -- /imagine and its buttons -----------------------------------------------------------------


async def test_imagine_defers_and_follows_up_with_pictures_and_buttons(
    imuse: Muse, standin: DiscordStandin
) -> None:
    async with running(imuse, standin):
        await synced(standin)
        record, _ = await slash_and_wait(
            standin, "imagine", {"prompt": "a red fox", "seed": 42, "count": 2}
        )
        assert record.response_type == 5  # accepted: a public "thinking…", then pictures
        assert not (record.response_data or {}).get("flags")
        [followup] = standin.calls("POST", rf"/webhooks/\d+/{record.token}")
        assert [name for name, _ in followup.files] == [
            a["filename"] for a in followup.json["attachments"]
        ]
        assert len(followup.files) == 2
        assert all(data.startswith(PNG_MAGIC) for _, data in followup.files)
        caption = followup.json["content"]
        assert "“a red fox”" in caption and "seeds 42, 43" in caption
        message = standin.messages[int(followup.response["id"])]
        assert int(message["id"]) == record.original_message_id  # completed the "thinking"
        request_ids = {cid.rsplit(":", 1)[1] for cid in button_ids(message)}
        assert len(request_ids) == 1
        [request_id] = request_ids
        assert button_ids(message) == [
            f"muse:img:{action}:{request_id}" for action in ("reroll", "vary", "delete")
        ]
        # 🔁 variations: four more of the same prompt, the seeds after the shown ones.
        click = await standin.click(f"muse:img:vary:{request_id}", int(message["id"]))
        await standin.wait_for_call("POST", rf"/webhooks/\d+/{click.token}")
        [more] = standin.calls("POST", rf"/webhooks/\d+/{click.token}")
        assert "seeds 44, 45, 46, 47" in more.json["content"] and len(more.files) == 4

        # A bad option is the core's error, in the form's terms, seen by the user alone
        # from the start: never a public "thinking…".
        bad, [error] = await slash_and_wait(standin, "imagine", {"prompt": "x", "width": 100})
        assert error["content"] == "width = 100: must be a multiple of 8 from 64 to 1024"
        assert bad.response_type == 4 and error["flags"] & EPHEMERAL
        assert not shown_publicly(standin, bad)


async def test_imagine_fields_are_the_image_settings_and_follow_them(
    imuse: Muse, standin: DiscordStandin
) -> None:
    assert imuse.image_settings is not None
    imuse.image_settings = imuse.image_settings.model_copy(
        update={
            "max_steps": 8,
            "max_width": 768,
            "max_height": 512,
            "max_count": 3,
            "max_guidance": 7.5,
            "max_prompt_chars": 300,
        }
    )
    put = r"/applications/\d+/commands"

    def imagine_fields() -> dict[str, Any]:
        return {o["name"]: o for o in standin.synced_command("imagine")["options"]}

    async with running(imuse, standin):
        await synced(standin)
        fields = imagine_fields()
        ranges = {
            name: (fields[name]["min_value"], fields[name]["max_value"])
            for name in ("seed", "steps", "width", "height", "guidance")
        }
        assert ranges == {
            "seed": (0, MAX_SEED),
            "steps": (1, 8),
            "width": (64, 768),
            "height": (64, 512),
            "guidance": (0.0, 7.5),
        }
        assert [c["value"] for c in fields["count"]["choices"]] == [1, 2, 3]
        assert fields["prompt"]["max_length"] == fields["negative"]["max_length"] == 300
        assert "a multiple of 8 from 64 to 768" in fields["width"]["description"]
    # Restarted with the same config: nothing new to publish.
    async with running(imuse, standin) as adapter:
        assert adapter.publishing is not None
        await asyncio.wait_for(adapter.publishing, 10)
        assert len(standin.calls("PUT", put)) == 1
    # Restarted with other limits: published again, with them.
    imuse.image_settings = imuse.image_settings.model_copy(update={"max_width": 1024})
    async with running(imuse, standin):
        await standin.wait_for_call("PUT", put, count=2)
        assert imagine_fields()["width"]["max_value"] == 1024


async def test_refused_requests_are_answered_privately_from_the_start(
    memory: Memory,
    text_engine: TextEngine,
    text_settings: TextSettings,
    image_engine: ImageEngine,  # noqa: F811
    standin: DiscordStandin,
) -> None:
    limits = LimitSettings(requests_per_minute=0, notify_wait_seconds=3600, daily_images=1)
    muse = platform_muse(memory, text_engine, text_settings, image_engine, limits=limits)
    muse.moderator = Moderator([ModerationRule(id="no-gore", words=["gore"])])
    async with running(muse, standin):
        await synced(standin)
        refusals = []
        for options in ({"prompt": "x", "height": 1001}, {"prompt": "some gore please"}):
            record, [answer] = await slash_and_wait(standin, "imagine", options)
            refusals.append((record, answer["content"]))
        accepted, _ = await slash_and_wait(standin, "imagine", {"prompt": "a kite"})
        over, [answer] = await slash_and_wait(standin, "imagine", {"prompt": "another"})
        refusals.append((over, answer["content"]))
        assert accepted.response_type == 5 and shown_publicly(standin, accepted)
        [size, moderated, budget] = [text for _, text in refusals]
        assert size == "height = 1001: must be a multiple of 8 from 64 to 1024"
        assert moderated == "I can't help with that here."
        assert budget.startswith("You've used today's budget of 1 images.")
        for record, text in refusals:
            assert record.response_type == 4 and not shown_publicly(standin, record), text
        # Nothing but the accepted request's pictures was ever posted for all to see.
        public = [m for m in standin.bot_messages(GENERAL_CHANNEL_ID) if not m["flags"] & 64]
        assert [int(m["id"]) for m in public] == [accepted.original_message_id]


async def test_checks_that_run_long_still_acknowledge_the_interaction_in_time(
    imuse: Muse, standin: DiscordStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adapters.discord import surfaces

    monkeypatch.setattr(surfaces, "DEFER_AFTER", 0.2)  # of Discord's 3 s
    admit = imuse.quotas.admit
    checked = asyncio.Event()

    async def slow_admit(*args: Any, **kwargs: Any) -> None:
        acks = r"/interactions/\d+/[^/]+/callback"
        await standin.wait_until(lambda: bool(standin.calls("POST", acks)), 10, "the ack")
        checked.set()
        await admit(*args, **kwargs)

    monkeypatch.setattr(imuse.quotas, "admit", slow_admit)
    async with running(imuse, standin):
        await synced(standin)
        record, [pictures] = await slash_and_wait(standin, "imagine", {"prompt": "a slow owl"})
        assert checked.is_set() and record.response_type == 5 and not record.late
        assert "“a slow owl”" in pictures["content"] and pictures["attachments"]


async def test_buttons_work_after_a_restart_and_delete_is_guarded(
    imuse: Muse, standin: DiscordStandin, tmp_path: Path
) -> None:
    async with running(imuse, standin):
        await synced(standin)
        _, [pictures] = await slash_and_wait(standin, "imagine", {"prompt": "a boat", "seed": 7})
    first_id = int(pictures["id"])
    [reroll_id, _, delete_id] = button_ids(standin.messages[first_id])

    # A new process: a new client and a new connection to the same database.
    memory = await Memory.open(tmp_path / "muse.db")
    restarted = make_muse(memory, imuse.text_engine, imuse.text_settings, imuse.image_engine)
    try:
        async with running(restarted, standin):
            click = await standin.click(reroll_id, first_id, user=ADMIN_USER_ID)
            await standin.wait_for_call("POST", rf"/webhooks/\d+/{click.token}")
            [rerolled] = standin.calls("POST", rf"/webhooks/\d+/{click.token}")
            assert "“a boat”" in rerolled.json["content"]
            assert "seed 7 " not in rerolled.json["content"]  # a new seed (1 in 2**32: same)
            second_id = int(rerolled.response["id"])
            second_delete = button_ids(standin.messages[second_id])[2]
            assert second_delete != delete_id

            # Not the requester, not an admin: refused, seen by the clicker alone.
            refused = await standin.click(second_delete, second_id, user=NORMAL_USER_ID)
            await standin.wait_for_call("POST", rf"/interactions/{refused.id}/[^/]+/callback")
            assert refused.response_type == 4 and refused.response_data is not None
            assert refused.response_data["flags"] == 64
            assert second_id in standin.messages
            # The requester may delete; so may an admin.
            await standin.click(delete_id, first_id, user=NORMAL_USER_ID)
            await standin.click(second_delete, second_id, user=OWNER_USER_ID)
            await eventually(
                lambda: _true({first_id, second_id} <= set(standin.deleted_message_ids))
            )
    finally:
        await memory.close()


async def test_expired_interaction_falls_back_to_a_channel_message(
    imuse: Muse, standin: DiscordStandin
) -> None:
    gate = threading.Event()
    async with running(imuse, standin):
        await synced(standin)
        busy = asyncio.create_task(imuse.image_engine.arbiter.run("image", gate.wait, 10))
        record = await standin.slash("imagine", {"prompt": "a slow snail", "seed": 1})
        await standin.wait_for_call("POST", rf"/interactions/{record.id}/[^/]+/callback")
        standin.expire_interaction(record.token)  # as if 15 minutes had passed
        gate.set()
        await busy
        [post] = await standin.wait_for_call(
            "POST", MESSAGES % GENERAL_CHANNEL_ID, status=200, timeout=20
        )
        assert "seed 1 " in post.json["content"] and post.files[0][1].startswith(PNG_MAGIC)
        assert button_ids(standin.messages[int(post.response["id"])])[0].startswith(
            "muse:img:reroll:"
        )


def test_typed_options_reach_the_core_as_typed_and_survive_storage() -> None:
    settings = ImageSettings()
    typed = ImagineOptions(
        prompt="a dragon's lair --seed 3 “quoted”",
        negative="--blurry, text",
        seed=5,
        steps=2,
        width=512,
        height=256,
        guidance=1.5,
        count=2,
    )
    checked = validate_imagine(typed, settings)  # what run_imagine does first
    assert checked.prompt == "a dragon's lair --seed 3 “quoted”"  # nothing read as an option
    assert (checked.negative, checked.seed, checked.steps, checked.size) == (
        "--blurry, text",
        5,
        2,
        "512x256",
    )
    assert (checked.count, checked.guidance) == (2, 1.5)
    # Kept for the buttons: loads back the same, and rows stored before typed options too.
    assert options_from_json(options_json(typed)) == typed
    assert options_from_json('{"prompt": "a boat", "seed": 7, "count": 2}') == ImagineOptions(
        prompt="a boat", seed=7, count=2
    )


def test_files_are_grouped_by_count_and_upload_limit() -> None:
    files = [Attachment(f"{i}.png", b"x" * size) for i, size in enumerate([4, 4, 4, 11, 2])]
    groups, too_big = group_files(files, size_limit=10, per_message=2)
    assert [[f.filename for f in g] for g in groups] == [["0.png", "1.png"], ["2.png", "4.png"]]
    assert [f.filename for f in too_big] == ["3.png"]
    many = [Attachment(f"{i}.png", b"x") for i in range(23)]
    assert [len(g) for g in group_files(many, size_limit=10**6)[0]] == [10, 10, 3]


# -- scheduled posts ----------------------------------------------------------------------------


async def test_outbound_posts_into_channels_and_threads(
    dmuse: Muse, standin: DiscordStandin
) -> None:
    async with running(dmuse, standin) as adapter:
        outbound = dmuse.outbounds["discord"]
        target = Target("discord", str(GENERAL_CHANNEL_ID), str(GUILD_ID))
        assert await outbound.channel_name(target) == "#general"
        sent = await (await outbound.open(target)).send("Good morning!")
        [post] = standin.calls("POST", MESSAGES % GENERAL_CHANNEL_ID)
        assert post.json["content"] == "Good morning!" and "message_reference" not in post.json
        assert sent.message_ids == (post.response["id"],)

        thread = Target("discord", str(ART_CHANNEL_ID), str(GUILD_ID), str(THREAD_ID))
        picture = Attachment("daily.png", PNG_MAGIC + b"data")
        await (await outbound.open(thread)).upload([picture], "")
        [upload] = standin.calls("POST", MESSAGES % THREAD_ID)
        assert upload.files == [("daily.png", PNG_MAGIC + b"data")]

        for bad in (
            Target("discord", "1234567890123"),
            Target("discord", str(GENERAL_CHANNEL_ID), "999"),
            Target("discord", "general"),
        ):
            with pytest.raises(UserError):
                await outbound.open(bad)
        assert adapter.bot.get_channel(GENERAL_CHANNEL_ID) is not None


async def test_schedule_added_by_slash_command_posts_once_into_the_channel(
    dmuse: Muse, standin: DiscordStandin
) -> None:
    scheduler = with_scheduler(dmuse)
    add = {"mode": "daily", "when": "09:00", "timezone": "UTC", "kind": "text", "prompt": "Hi"}
    async with running(dmuse, standin):
        await synced(standin)
        _, [added] = await slash_and_wait(standin, "schedule add", add, user=ADMIN_USER_ID)
        assert added["content"].startswith("Schedule #1 added")
        _, [ran] = await slash_and_wait(
            standin, "schedule run-now", {"number": 1}, user=ADMIN_USER_ID
        )
        assert ran["content"] == "Schedule #1 posted."
        # Posted as a plain channel message (not an interaction follow-up), final text only.
        [call] = standin.calls("POST", MESSAGES % GENERAL_CHANNEL_ID)
        post = standin.messages[int(call.response["id"])]
        # The post is in the channel's memory, so a follow-up mention can refer to it.
        [stored] = await answered(dmuse, GENERAL_KEY)
        assert post["content"] == stored.content and stored.platform_message_id == post["id"]
        _, [listed] = await slash_and_wait(standin, "schedule list", {}, user=ADMIN_USER_ID)
        assert "#1" in listed["content"] and "posted" in listed["content"]
    del scheduler


# -- flood ------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_flood_of_500_mentions_each_answered_or_told_busy(
    memory: Memory, text_engine: TextEngine, text_settings: TextSettings, standin: DiscordStandin
) -> None:
    # The queue depth is read when Muse is built: build it with it.
    limits = LimitSettings(queue_depth=100, requests_per_minute=0, notify_wait_seconds=3600)
    dmuse = platform_muse(memory, text_engine, text_settings, limits=limits)
    async with running(dmuse, standin):
        mentions = []
        for i in range(500):
            channel = (GENERAL_CHANNEL_ID, ART_CHANNEL_ID)[i % 2]
            mentions.append(await standin.send_user_message(channel, f"{MENTION} hello {i}"))
        wanted = {int(m["id"]) for m in mentions}

        def answers() -> dict[int, dict[str, Any]]:
            out = {}
            for m in standin.bot_messages():
                ref = (m.get("message_reference") or {}).get("message_id")
                if ref is not None and int(ref) in wanted:
                    out.setdefault(int(ref), m)
            return out

        await standin.wait_until(lambda: len(answers()) == 500, 240, "500 answers")
        busy = [m for m in answers().values() if m["content"].startswith("I'm busy right now")]
        assert not [m for m in answers().values() if m["content"].startswith("Sorry")]
        # Any refusal comes from a queue of exactly the configured depth.
        assert all(m["content"].startswith("I'm busy right now (100 requests") for m in busy)
        keys = [GENERAL_KEY, f"discord:{GUILD_ID}:{ART_CHANNEL_ID}"]
        done = await answered(dmuse, keys[0]) + await answered(dmuse, keys[1])
        accepted = 500 - len(busy)

        async def all_stored() -> bool:
            rows = [m for k in keys for m in await dmuse.memory.recent(k, 10_000)]
            return sum(m.role == "assistant" for m in rows) == accepted

        await eventually(all_stored, 120)
        rows = [m for k in keys for m in await dmuse.memory.recent(k, 10_000)]
        user_ids = [m.platform_message_id for m in rows if m.role == "user"]
        # Every accepted mention is in memory exactly once; refused ones are not.
        assert len(user_ids) == len(set(user_ids)) == accepted > 0 and done
        print(f"discord flood: 500 mentions, {accepted} answered, {len(busy)} busy")
