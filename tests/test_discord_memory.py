"""Channel-aware memory through the real discord.py against the stand-in: messages not
addressed to Muse become attributed context (never answered), a thread sees its channel,
and /summarize reads GET /channels/{id}/messages with Discord's limit and `before` cursor."""

from __future__ import annotations

import time

from adapters.discord.history import NO_ACCESS
from core.chat.service import Muse
from core.chat.timeline import CONTEXT_HEADER
from tests.helpers import answered, eventually
from tests.standins.discord_api import (
    ADMIN_USER_ID,
    ART_CHANNEL_ID,
    GENERAL_CHANNEL_ID,
    GUILD_ID,
    NORMAL_USER_ID,
    THREAD_ID,
    DiscordStandin,
)
from tests.test_discord_adapter import GENERAL_KEY, MENTION, running, slash_and_wait, synced
from tests.test_discord_adapter import dmuse as dmuse  # a fixture
from tests.test_slack_memory import spy_prompts

HISTORY = rf"/channels/{GENERAL_CHANNEL_ID}/messages"


async def test_unaddressed_messages_are_context_and_a_thread_sees_its_channel(
    dmuse: Muse, standin: DiscordStandin
) -> None:
    prompts = spy_prompts(dmuse)
    art_key = f"discord:{GUILD_ID}:{ART_CHANNEL_ID}"
    async with running(dmuse, standin):
        await standin.send_user_message(ART_CHANNEL_ID, "I propose we paint the lighthouse")
        await eventually(lambda: dmuse.recall.store.context(art_key, 0.0, 10))
        await standin.send_user_message(THREAD_ID, f"{MENTION} what was proposed?")
        await answered(dmuse, f"{art_key}:{THREAD_ID}")
        # Elsewhere, another channel's context stays out.
        await standin.send_user_message(GENERAL_CHANNEL_ID, f"{MENTION} hello")
        await answered(dmuse, GENERAL_KEY)
    thread_prompt, general_prompt = prompts
    assert thread_prompt.key == f"{art_key}:{THREAD_ID}"
    assert f"{CONTEXT_HEADER}\nAlice: I propose we paint the lighthouse" in (
        thread_prompt.prompt.text
    )
    assert "lighthouse" not in general_prompt.prompt.text
    # Muse answered the two mentions only.
    bot_posts = [c for c in standin.calls("POST", r"/channels/\d+/messages") if c.ok]
    assert len(bot_posts) == 2


async def test_summarize_pages_back_through_channel_history(
    dmuse: Muse, standin: DiscordStandin
) -> None:
    now = time.time()
    standin.past_message(GENERAL_CHANNEL_ID, "three days ago", at=now - 3 * 86400)
    for i in range(130):  # more than one page of 100
        author = ADMIN_USER_ID if i % 2 else NORMAL_USER_ID
        standin.past_message(GENERAL_CHANNEL_ID, f"step {i}", at=now - 3000 + i, author=author)
    async with running(dmuse, standin):
        await synced(standin)
        _, [answer] = await slash_and_wait(standin, "summarize", {"hours": 2})
    reads = standin.calls("GET", HISTORY)
    assert [c.query.get("limit") for c in reads] == ["100", "100"]
    assert "before" not in reads[0].query
    assert reads[1].query["before"] == reads[0].response[-1]["id"]  # the oldest one seen
    assert all(r.ok for r in reads)
    assert answer["content"] and answer["content"] != NO_ACCESS
    assert not answer.get("flags", 0) & (1 << 6)  # a summary is for the channel


async def test_summarize_without_read_history_permission_says_so(
    dmuse: Muse, standin: DiscordStandin
) -> None:
    standin.inject("GET", HISTORY, 403, {"message": "Missing Access", "code": 50001})
    async with running(dmuse, standin):
        await synced(standin)
        record, [told] = await slash_and_wait(standin, "summarize", {"hours": 3})
    assert told["content"] == NO_ACCESS
    assert told["flags"] & (1 << 6)  # seen by the asker alone
    assert len(standin.calls("GET", HISTORY)) == 1
    assert record.response_type is not None


async def test_admins_opt_a_channel_out_of_context_with_memory(
    dmuse: Muse, standin: DiscordStandin
) -> None:
    async with running(dmuse, standin):
        await synced(standin)
        await standin.send_user_message(GENERAL_CHANNEL_ID, "for the record")
        await eventually(lambda: dmuse.recall.store.context(GENERAL_KEY, 0.0, 10))
        _, [refused] = await slash_and_wait(
            standin, "memory", {"change": "context off"}, user=NORMAL_USER_ID
        )
        assert refused["content"] == "Only admins can change how this channel remembers."
        _, [done] = await slash_and_wait(
            standin, "memory", {"change": "context off"}, user=ADMIN_USER_ID
        )
        assert done["content"].startswith("Muse no longer keeps messages said here")
        await standin.send_user_message(GENERAL_CHANNEL_ID, "not for the record")
        await standin.send_user_message(GENERAL_CHANNEL_ID, f"{MENTION} still there?")
        await answered(dmuse, GENERAL_KEY)  # the aside's handler ended long before
        _, [shown] = await slash_and_wait(standin, "memory", user=NORMAL_USER_ID)
    kept = await dmuse.recall.store.context(GENERAL_KEY, 0.0, 10)
    assert [r.content for r in kept] == ["for the record"]
    assert "channel context off" in shown["content"] and shown["flags"] & (1 << 6)
