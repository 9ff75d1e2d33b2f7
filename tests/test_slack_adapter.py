"""Muse's Slack adapter, driven through the real slack_bolt / slack_sdk against the local
Web API stand-in: signed HTTP requests into the running HTTP-mode app (and one Socket Mode
session), with the adapter's WebClient pointed at the stand-in through [slack] api_url.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from adapters.common.threads import ThreadStore
from adapters.slack.adapter import SlackAdapter
from adapters.slack.listeners.imagine import DRAWING, IMAGES_OFF
from adapters.slack.mrkdwn import to_mrkdwn
from adapters.slack.reply import SlackReply, Where, render
from adapters.slack.settings import SlackSettings
from core.chat.reply import Attachment, Target
from core.chat.service import Muse
from core.errors import UserError
from core.fair_use.moderation import Moderator
from core.fair_use.policy import Policy
from core.fair_use.settings import ModerationRule, PolicySettings
from core.image.engine import ImageEngine
from core.memory.store import Memory
from core.text.engine import TextEngine
from core.text.settings import TextSettings
from tests.conftest_image import image_engine, image_settings, tiny_image_dir  # noqa: F401
from tests.helpers import answered, eventually, platform_muse, with_scheduler
from tests.standins.slack_api import (
    APP_TOKEN,
    BOT_ID,
    BOT_TOKEN,
    BOT_USER_ID,
    RESPONSE_URL,
    TEAM_ID,
    UPLOAD,
    SlackApiStandin,
)
from tests.standins.slack_signing import (
    ALICE,
    BOB,
    CHANNEL_ID,
    DM_CHANNEL_ID,
    SIGNING_SECRET,
    app_mention_event,
    block_actions_payload,
    event_callback,
    interactive_form,
    json_body,
    mention,
    message_changed_event,
    message_event,
    reaction_added_event,
    signed_headers,
    slash_command_fields,
    slash_command_form,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# -- fixtures and helpers -------------------------------------------------------------------


def make_muse(
    memory: Memory,
    engine: TextEngine,
    settings: TextSettings,
    images: ImageEngine | None = None,
) -> Muse:
    admins = Policy(PolicySettings(admins=[f"slack:{BOB}"]))
    return platform_muse(memory, engine, settings, images, policy=admins)


@pytest.fixture
def smuse(memory: Memory, text_engine: TextEngine, text_settings: TextSettings) -> Muse:
    return make_muse(memory, text_engine, text_settings)


@pytest.fixture
def imuse(
    memory: Memory,
    text_engine: TextEngine,
    text_settings: TextSettings,
    image_engine: ImageEngine,  # noqa: F811
) -> Muse:
    return make_muse(memory, text_engine, text_settings, image_engine)


@dataclass
class Running:
    adapter: SlackAdapter
    slack: SlackApiStandin
    http: aiohttp.ClientSession

    async def post(
        self, body: str, headers: dict[str, str] | None = None, **signing: Any
    ) -> tuple[int, str]:
        assert self.adapter.url is not None
        headers = headers or signed_headers(SIGNING_SECRET, body, **signing)
        async with self.http.post(self.adapter.url, data=body.encode(), headers=headers) as r:
            return r.status, await r.text()

    async def event(self, event: dict[str, Any], **signing: Any) -> dict[str, Any]:
        """Deliver one event (signed, as Slack does); returns the envelope sent."""
        envelope = event_callback(event)
        status, _ = await self.post(json_body(envelope), **signing)
        assert status == 200
        return envelope

    async def command(self, command: str, text: str, user: str = ALICE, **kw: Any) -> Any:
        """Run a slash command; returns the ack (the HTTP response body)."""
        body = slash_command_form(
            command, text, user_id=user, response_url=self.slack.response_url(), **kw
        )
        status, answer = await self.post(body)
        assert status == 200
        return json.loads(answer) if answer.startswith("{") else answer

    async def press(self, action_id: str, message: dict[str, Any], user: str = ALICE) -> None:
        """Press a button under `message` (a signed `block_actions` request, as Slack
        sends it); Bolt acknowledges it with an empty 200."""
        payload = block_actions_payload(action_id, message, user_id=user)
        status, answer = await self.post(interactive_form(payload))
        assert (status, answer) == (200, "")

    def reply(self, thread_ts: str | None = None, channel: str = CHANNEL_ID) -> SlackReply:
        return self.adapter.context.reply_in(Where(channel, thread_ts, user=ALICE))


@contextlib.asynccontextmanager
async def running(muse: Muse, slack: SlackApiStandin, **changes: Any) -> AsyncIterator[Running]:
    """`adapter.run()` in HTTP mode on a free port until it listens; cancelled afterwards."""
    values: dict[str, Any] = {
        "bot_token": BOT_TOKEN,
        "signing_secret": SIGNING_SECRET,
        "mode": "http",
        "http_host": "127.0.0.1",
        "http_port": 0,
        "api_url": slack.api_url,
        "update_interval_seconds": 0.02,
        **changes,
    }
    settings = SlackSettings(**values)  # validated: http mode has its signing secret
    adapter = SlackAdapter(muse, settings)
    task = asyncio.create_task(adapter.run())
    try:
        ready = asyncio.create_task(adapter.ready.wait())
        await asyncio.wait([task, ready], timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
        assert adapter.ready.is_set(), "adapter not ready after 10 s"
        async with aiohttp.ClientSession() as http:
            yield Running(adapter, slack, http)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        assert "slack" not in muse.outbounds


def key(channel: str = CHANNEL_ID, thread: str | None = None) -> str:
    return f"slack:{TEAM_ID}:{channel}" + (f":{thread}" if thread else "")


def posts(slack: SlackApiStandin, thread_ts: str | None = None) -> list[Any]:
    return [
        c
        for c in slack.calls("chat.postMessage")
        if c.ok and (thread_ts is None or c.params.get("thread_ts") == thread_ts)
    ]


async def slow(pieces: list[str], delay: float) -> AsyncIterator[str]:
    for piece in pieces:
        await asyncio.sleep(delay)
        yield piece


def mention_event(text: str, **kw: Any) -> dict[str, Any]:
    return app_mention_event(CHANNEL_ID, ALICE, f"{mention()} {text}", **kw)


# -- chat -------------------------------------------------------------------------------------


async def test_mention_gets_a_threaded_reply_with_the_exact_final_text(
    smuse: Muse, slack: SlackApiStandin
) -> None:
    async with running(smuse, slack) as r:
        assert smuse.outbounds["slack"] is r.adapter.outbound
        event = mention_event("hello there")
        await r.event(event)
        [stored] = await answered(smuse, key(thread=event["ts"]))

        [post] = posts(slack)
        assert post.params["channel"] == CHANNEL_ID and post.params["thread_ts"] == event["ts"]
        assert post.token == BOT_TOKEN
        assert stored.platform_message_id == post.response["ts"]
        final = slack.message(CHANNEL_ID, post.response["ts"])
        assert final is not None and final["text"] == to_mrkdwn(stored.content)
        for update in slack.calls("chat.update"):
            assert update.params["ts"] == post.response["ts"]
        user_turn = (await smuse.memory.recent(key(thread=event["ts"])))[0]
        # Muse's mention is gone; the author's display name came from users.info.
        assert (user_turn.content, user_turn.author_name) == (
            "hello there",
            f"user-{ALICE.lower()}",
        )
        assert slack.calls("users.info")[0].params["user"] == ALICE


async def test_streamed_reply_grows_by_paced_updates(smuse: Muse, slack: SlackApiStandin) -> None:
    async with running(smuse, slack) as r:
        words = [f"**w{i}** " for i in range(40)]
        sent = await r.reply("1700000000.000100").stream(slow(words, 0.01))
        [ts] = sent.message_ids
        updates = slack.calls("chat.update")
        assert 2 <= len(updates) < len(words)  # it grew in steps, not once per word
        assert updates[-1].params["text"] == to_mrkdwn("".join(words))
        assert slack.message(CHANNEL_ID, ts)["text"] == to_mrkdwn("".join(words))  # type: ignore[index]
        assert "*w39*" in updates[-1].params["text"]  # Markdown bold became mrkdwn bold


async def test_thread_messages_after_a_mention_are_answered_without_one(
    smuse: Muse, slack: SlackApiStandin
) -> None:
    async with running(smuse, slack) as r:
        parent = mention_event("start a thread")
        thread = parent["ts"]
        await r.event(parent)
        await answered(smuse, key(thread=thread))
        # Not addressed: a top-level message, and one in a thread Muse is not in.
        await r.event(message_event(CHANNEL_ID, ALICE, "just chatting"))
        await r.event(message_event(CHANNEL_ID, ALICE, "elsewhere", thread_ts="1600000000.000001"))
        later = message_event(CHANNEL_ID, BOB, "what do you think?", thread_ts=thread)
        await r.event(later)
        await answered(smuse, key(thread=thread), 2)
        assert await smuse.memory.find_by_platform_id(later["ts"]) is not None
        assert len(posts(slack)) == 2 and len(posts(slack, thread)) == 2
        # A core command inside the thread, where a slash command cannot reach (an admin's:
        # [policy] forget; the confirmation is the asker's alone).
        await r.event(message_event(CHANNEL_ID, BOB, f"{mention()} /forget", thread_ts=thread))
        [forgot] = await slack.wait_for("chat.postEphemeral")
        assert forgot.params["text"] == "Forgot this conversation (4 messages)."
        assert (forgot.params["user"], forgot.params["thread_ts"]) == (BOB, thread)
        assert len(posts(slack, thread)) == 2
    # The thread is remembered in SQLite, so a restarted Muse keeps answering there.
    assert await ThreadStore(smuse.memory.connection, "slack").contains(CHANNEL_ID, thread)


async def test_dms_are_answered_at_the_top_level(smuse: Muse, slack: SlackApiStandin) -> None:
    async with running(smuse, slack) as r:
        dm = message_event(DM_CHANNEL_ID, ALICE, "hello in private")
        await r.event(dm)
        [stored] = await answered(smuse, key(DM_CHANNEL_ID))
        [post] = posts(slack)
        assert post.params["channel"] == DM_CHANNEL_ID and "thread_ts" not in post.params
        assert slack.message(DM_CHANNEL_ID, post.response["ts"])["text"] == to_mrkdwn(  # type: ignore[index]
            stored.content
        )


async def test_long_reply_continues_in_split_thread_messages(
    smuse: Muse, slack: SlackApiStandin
) -> None:
    text = "Intro **paragraph**.\n\n" + "word " * 120 + "\n```python\n" + "x = a < b\n" * 80
    text += "```\nEnd."
    async with running(smuse, slack, max_message_chars=400) as r:
        pieces = [text[i : i + 150] for i in range(0, len(text), 150)]
        sent = await r.reply("1700000000.000200").stream(slow(pieces, 0.0))
        expected = render(text, 400)
        assert len(expected) >= 4 and expected[-1].startswith("```\n")  # fence reopened
        shown = [slack.message(CHANNEL_ID, ts)["text"] for ts in sent.message_ids]  # type: ignore[index]
        assert shown == expected and sent.text == text
        assert all(len(s) <= 400 for s in shown)
        assert "x = a &lt; b" in shown[-1]  # code kept, only entity-escaped
        assert {p.params["thread_ts"] for p in posts(slack)} == {"1700000000.000200"}


async def test_ratelimited_post_and_update_still_deliver_everything(
    smuse: Muse, slack: SlackApiStandin
) -> None:
    async with running(smuse, slack) as r:
        slack.ratelimit("chat.postMessage", times=1, retry_after=1)
        slack.ratelimit("chat.update", times=1, retry_after=1)
        words = [f"w{i} " for i in range(20)]
        sent = await r.reply("1700000000.000300").stream(slow(words, 0.02))
        assert [c.status for c in slack.calls("chat.postMessage")] == [429, 200]
        assert 429 in [c.status for c in slack.calls("chat.update")]
        [ts] = sent.message_ids
        assert slack.message(CHANNEL_ID, ts)["text"] == "".join(words)  # type: ignore[index]


async def test_web_api_errors_are_retried_or_told_to_the_user(
    smuse: Muse, slack: SlackApiStandin
) -> None:
    async with running(smuse, slack) as r:
        # A failed update is tried again at the next turn; the text still ends complete.
        slack.fail("chat.update", "internal_error", times=1)
        words = [f"w{i} " for i in range(20)]
        sent = await r.reply("1700000000.000500").stream(slow(words, 0.02))
        assert "internal_error" in [c.error for c in slack.calls("chat.update")]
        assert slack.message(CHANNEL_ID, sent.message_ids[0])["text"] == "".join(words)  # type: ignore[index]

        # A post Slack refuses for good: the asker is told, privately, with an error id.
        slack.fail("chat.postMessage", "not_in_channel", times=1)
        event = mention_event("are you there?")
        await r.event(event)
        [apology] = await slack.wait_for("chat.postEphemeral")
        assert apology.params["user"] == ALICE and apology.params["thread_ts"] == event["ts"]
        assert apology.params["text"].startswith("Sorry, something went wrong on my side")


async def test_unverifiable_requests_get_401_and_no_reply(
    smuse: Muse, slack: SlackApiStandin
) -> None:
    async with running(smuse, slack) as r:
        for headers in (
            lambda body: signed_headers("not-the-secret", body),
            lambda body: signed_headers(SIGNING_SECRET, body, timestamp=int(time.time()) - 360),
        ):
            body = json_body(event_callback(mention_event("let me in")))
            status, _ = await r.post(body, headers(body))
            assert status == 401
        # A good one afterwards is answered; the refused ones never reached a listener.
        good = mention_event("now properly")
        await r.event(good)
        await answered(smuse, key(thread=good["ts"]))
        assert [p.params["thread_ts"] for p in posts(slack)] == [good["ts"]]
        assert all("let me in" not in m.content for m in await smuse.memory.recent(key()))


async def test_hostile_bodies_are_refused_briefly_before_anything_parses_them(
    smuse: Muse, slack: SlackApiStandin, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(smuse, slack) as r:
        with caplog.at_level(logging.DEBUG):
            # Not JSON, unsigned: refused on the signature, never parsed (was a 500).
            not_json = "{this is not json" * 10
            assert (await r.post(not_json, {"Content-Type": "application/json"}))[0] == 401
            # Not JSON but signed (a leaked secret, or a broken proxy): 400, not 500.
            assert (await r.post(not_json))[0] == 400
            form = "payload=%7Bnot-json"
            assert (await r.post(form))[0] == 400
            # A forged 900 kB body, and a signed 1 MB one: refused, and not logged.
            forged = json_body({"type": "event_callback", "pad": "x" * 900_000})
            assert (await r.post(forged, signed_headers("wrong", forged)))[0] in (401, 413)
            huge = json_body({"type": "event_callback", "pad": "y" * 1_000_000})
            assert (await r.post(huge))[0] == 413
            # An event type Muse has no listener for: acknowledged, so Slack stops retrying.
            other = {"type": "channel_rename", "channel": {"id": CHANNEL_ID, "name": "x"}}
            assert (await r.post(json_body(event_callback(other))))[0] == 200
        assert max(len(rec.getMessage()) for rec in caplog.records) < 500
        assert not any(rec.levelno >= logging.ERROR for rec in caplog.records)
        good = mention_event("still here?")
        await r.event(good)
        await answered(smuse, key(thread=good["ts"]))


async def test_retried_and_twin_deliveries_get_one_reply(
    smuse: Muse, slack: SlackApiStandin
) -> None:
    async with running(smuse, slack) as r:
        event = mention_event("only once please")
        body = json_body(event_callback(event))
        assert (await r.post(body))[0] == 200
        # Slack's retry: the same body (same event_id) with X-Slack-Retry-Num.
        assert (await r.post(body, retry_num=1, retry_reason="http_timeout"))[0] == 200
        # The same channel message as a `message` event (another event_id).
        twin = message_event(CHANNEL_ID, ALICE, event["text"], ts=event["ts"])
        await r.event(twin)
        await answered(smuse, key(thread=event["ts"]))
        # A later message as a barrier: once it is answered, the copies were handled.
        barrier = mention_event("barrier")
        await r.event(barrier)
        await answered(smuse, key(thread=barrier["ts"]))
        assert [p.params["thread_ts"] for p in posts(slack)] == [event["ts"], barrier["ts"]]
        turns = await smuse.memory.recent(key(thread=event["ts"]))
        assert [t.role for t in turns] == ["user", "assistant"]

        # The event_id check on its own (messages are also claimed by channel + ts): a
        # listener of another event sees a retried delivery once.
        seen: list[str] = []

        @r.adapter.app.event("emoji_changed")
        async def count(event: dict[str, Any]) -> None:
            seen.append(event["name"])

        emoji = json_body(event_callback({"type": "emoji_changed", "subtype": "add", "name": "a"}))
        assert (await r.post(emoji))[0] == 200
        assert (await r.post(emoji, retry_num=1))[0] == 200
        barrier_emoji = {"type": "emoji_changed", "subtype": "add", "name": "b"}
        assert (await r.post(json_body(event_callback(barrier_emoji))))[0] == 200
        await eventually(lambda: _true("b" in seen))
        assert seen == ["a", "b"]


async def test_own_bot_and_edited_messages_are_ignored(smuse: Muse, slack: SlackApiStandin) -> None:
    async with running(smuse, slack) as r:
        first = mention_event("open a thread")
        thread = first["ts"]
        await r.event(first)
        [stored] = await answered(smuse, key(thread=thread))
        ignored = [
            message_event(CHANNEL_ID, BOT_USER_ID, f"{mention()} me", thread_ts=thread),
            message_event(
                CHANNEL_ID,
                None,
                f"{mention()} hi bot",
                thread_ts=thread,
                subtype="bot_message",
                bot_id="B0OTHERBOT",
            ),
            message_event(
                CHANNEL_ID, "U0OTHERBOT", "from a bot user", thread_ts=thread, bot_id="B0OTHERBOT"
            ),
            {
                **message_changed_event(
                    CHANNEL_ID,
                    BOT_USER_ID,
                    stored.platform_message_id,
                    "edited",
                    "old",
                    bot_id=BOT_ID,
                ),
                "thread_ts": thread,
            },
            message_event(CHANNEL_ID, ALICE, "", thread_ts=thread, subtype="message_deleted"),
            message_event(CHANNEL_ID, ALICE, "joined", thread_ts=thread, subtype="channel_join"),
        ]
        for event in ignored:
            await r.event(event)
        barrier = mention_event("barrier")
        await r.event(barrier)
        await answered(smuse, key(thread=barrier["ts"]))
        assert [p.params["thread_ts"] for p in posts(slack)] == [thread, barrier["ts"]]
        assert [m.role for m in await smuse.memory.recent(key(thread=thread))] == [
            "user",
            "assistant",
        ]


# -- slash commands ---------------------------------------------------------------------------


async def test_persona_is_for_admins_and_forget_clears_the_channel(
    smuse: Muse, slack: SlackApiStandin
) -> None:
    async with running(smuse, slack) as r:
        assert await r.command("/persona", "set Talk like a pirate.") == ""  # empty ack
        [refused] = await slack.wait_for(RESPONSE_URL)
        assert refused.params["response_type"] == "ephemeral"
        assert refused.params["text"] == "Only admins can set or reset this conversation's persona."
        assert await smuse.memory.get_persona(key()) is None

        await r.command("/persona", "set Talk like a pirate.", user=BOB)  # [policy] admin
        await eventually(lambda: _has_persona(smuse))
        [done] = await slack.wait_for("chat.postMessage")
        assert done.params["text"] == "Persona set for this conversation."
        assert "thread_ts" not in done.params  # commands act on the channel

        await r.command("/stats", "")
        [_, stats] = await slack.wait_for(RESPONSE_URL, 2)
        assert stats.params == {**stats.params, "response_type": "ephemeral"}
        assert stats.params["text"] == "Feedback here: 👍 0 · 👎 0"

        # A shared channel's memory is cleared by admins, and the asker alone hears of it.
        await r.command("/forget", "")
        no = (await slack.wait_for(RESPONSE_URL, 3))[-1]
        assert no.params["text"].startswith("Only admins can use /forget in a shared channel")
        await r.command("/forget", "", user=BOB)
        done = (await slack.wait_for(RESPONSE_URL, 4))[-1]
        assert done.params["text"] == "Forgot this conversation (0 messages)."
        assert no.params["response_type"] == done.params["response_type"] == "ephemeral"
        assert len(posts(slack)) == 1  # nothing else was posted in the channel


async def _has_persona(muse: Muse) -> bool:
    return await muse.memory.get_persona(key()) == "Talk like a pirate."


async def test_answers_carry_a_regenerate_button_that_answers_again(
    smuse: Muse, slack: SlackApiStandin
) -> None:
    async with running(smuse, slack) as r:
        event = mention_event("a poem please")
        await r.event(event)
        conversation = key(thread=event["ts"])
        [stored] = await answered(smuse, conversation)
        ts = str(stored.platform_message_id)

        async def with_button() -> dict[str, Any] | None:
            message = slack.message(CHANNEL_ID, ts)
            return message if message.get("blocks") else None

        message = await eventually(with_button)
        section, actions = message["blocks"]
        assert message["text"] == section["text"]["text"]  # the same text, now with the button
        assert [e["action_id"] for e in actions["elements"]] == ["muse:regen"]
        await r.press("muse:regen", message, user=BOB)
        await eventually(lambda: answered(smuse, conversation, 2))
        first, again = await smuse.generations.all()
        assert again.regenerates == first.id and again.prompt == first.prompt
        assert again.conversation == conversation
        [new_ts] = again.reply_ids
        assert slack.message(CHANNEL_ID, new_ts)["thread_ts"] == event["ts"]  # same thread


async def test_reactions_become_feedback_rows(smuse: Muse, slack: SlackApiStandin) -> None:
    async with running(smuse, slack) as r:
        event = mention_event("rate me")
        await r.event(event)
        [stored] = await answered(smuse, key(thread=event["ts"]))
        ts = stored.platform_message_id
        await r.event(reaction_added_event(ALICE, "+1", CHANNEL_ID, ts, item_user=BOT_USER_ID))
        await r.event(reaction_added_event(BOB, "-1::skin-tone-3", CHANNEL_ID, ts))  # no item_user
        # Not Muse's message, not a feedback emoji: no rows.
        await r.event(reaction_added_event(BOB, "+1", CHANNEL_ID, event["ts"], item_user=ALICE))
        await r.event(reaction_added_event(BOB, "tada", CHANNEL_ID, ts, item_user=BOT_USER_ID))
        db = smuse.memory.connection

        async def rows() -> list[tuple[Any, ...]]:
            async with db.execute(
                "SELECT platform, message_id, user_id, value, conversation FROM feedback"
                " ORDER BY value"
            ) as cur:
                return [tuple(row) for row in await cur.fetchall()]

        async def count(n: int) -> bool:
            return len(await rows()) == n

        await eventually(lambda: count(2))
        assert await rows() == [
            ("slack", ts, BOB, -1, key(thread=event["ts"])),
            ("slack", ts, ALICE, 1, key(thread=event["ts"])),
        ]
        removal = {
            **reaction_added_event(ALICE, "+1", CHANNEL_ID, ts, item_user=BOT_USER_ID),
            "type": "reaction_removed",
        }
        await r.event(removal)
        await eventually(lambda: count(1))
        assert (await rows())[0][2] == BOB


# -- /imagine -----------------------------------------------------------------------------------


async def test_imagine_acks_before_drawing_then_uploads_pngs(
    imuse: Muse, slack: SlackApiStandin
) -> None:
    gate = threading.Event()
    async with running(imuse, slack) as r:
        # Hold the device so the pictures cannot be made until the ack has been checked.
        busy = asyncio.create_task(imuse.arbiter.run("image", gate.wait, 10))
        try:
            ack = await r.command("/imagine", "a red fox --seed 42 --count 2")
            assert ack == {"text": DRAWING, "response_type": "ephemeral"}
            assert slack.calls("files.getUploadURLExternal") == []  # not drawn yet
        finally:
            gate.set()
            await busy
        await slack.wait_for("files.completeUploadExternal", timeout=30)
        steps = [
            c.method for c in slack.calls() if c.method.startswith("files.") or c.method == UPLOAD
        ]
        # slack_sdk asks for both upload URLs, uploads both, then shares them together.
        assert steps == [
            "files.getUploadURLExternal",
            "files.getUploadURLExternal",
            UPLOAD,
            UPLOAD,
            "files.completeUploadExternal",
        ]
        uploaded = slack.uploaded_files()
        assert len(uploaded) == 2
        assert all(f.data and f.data.startswith(PNG_MAGIC) for f in uploaded)
        assert all(f.channel_id == CHANNEL_ID for f in uploaded)
        comment = uploaded[0].initial_comment or ""
        assert "“a red fox”" in comment and "seeds 42, 43" in comment
        # Who asked is named, as plain text: no mention, so nobody is pinged.
        assert comment.endswith(" · asked by user-u0alice001") and "<@" not in comment

        # A bad option is the ack itself, seen by the user alone; nothing is drawn.
        bad = await r.command("/imagine", "x --width 100")
        assert bad["response_type"] == "ephemeral" and "--width 100" in bad["text"]
        assert len(slack.calls("files.completeUploadExternal")) == 1


async def picture_buttons(slack: SlackApiStandin, count: int) -> dict[str, Any]:
    """The newest message of buttons under pictures, once Muse posted `count` of them."""

    async def posted() -> list[Any]:
        calls = slack.calls("chat.postMessage")
        found = [c for c in calls if c.ok and c.params.get("blocks") is not None]
        return found if len(found) >= count else []

    buttons = await eventually(posted, 30)
    assert len(buttons) == count, [c.params for c in buttons]
    message = slack.message(buttons[-1].params["channel"], buttons[-1].response["ts"])
    assert message is not None
    return message


def action_ids(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for block in message["blocks"] for e in block.get("elements", [])]


async def test_picture_buttons_reroll_vary_and_delete_after_a_restart(
    imuse: Muse, slack: SlackApiStandin, tmp_path: Path
) -> None:
    async with running(imuse, slack) as r:
        await r.command("/imagine", "a boat --seed 7")
        first = await picture_buttons(slack, 1)
    [first_file] = slack.uploaded_files()
    reroll_id, vary_id, delete_id = action_ids(first)
    request_id = reroll_id.rsplit(":", 1)[1]
    assert [reroll_id, vary_id, delete_id] == [
        f"muse:img:{action}:{request_id}" for action in ("reroll", "vary", "delete")
    ]

    # A new process: a new adapter and a new connection to the same database.
    memory = await Memory.open(tmp_path / "muse.db")
    restarted = make_muse(memory, imuse.text_engine, imuse.text_settings, imuse.image_engine)
    try:
        async with running(restarted, slack) as r:
            await r.press(reroll_id, first)
            [_, rerolled] = await slack.wait_for("files.completeUploadExternal", 2, timeout=30)
            comment = rerolled.params["initial_comment"]
            assert "“a boat”" in comment and "seed 7 " not in comment  # a new seed
            assert comment.endswith("asked by user-u0alice001")
            second = await picture_buttons(slack, 2)
            await r.press(vary_id, first)
            [*_, varied] = await slack.wait_for("files.completeUploadExternal", 3, timeout=30)
            assert "seeds 8, 9, 10, 11" in varied.params["initial_comment"]
            await picture_buttons(slack, 3)

            # Not the requester, not an admin: refused, seen by the presser alone.
            await r.press(action_ids(second)[2], second, user="U0CAROL01")
            [refused] = await slack.wait_for("chat.postEphemeral")
            assert refused.params["user"] == "U0CAROL01"
            assert refused.params["text"].startswith("Only the person who asked")
            assert len(slack.uploaded_files()) == 1 + 1 + 4
            # The requester may delete; so may an admin. Pictures and buttons go.
            await r.press(delete_id, first)
            await r.press(action_ids(second)[2], second, user=BOB)
            await eventually(lambda: _true(len(slack.calls("chat.delete")) == 2))
            await eventually(lambda: _true(len(slack.uploaded_files()) == 4))
            assert first_file.deleted
            assert slack.message(CHANNEL_ID, first["ts"]) is None
            assert slack.message(CHANNEL_ID, second["ts"]) is None
    finally:
        await memory.close()


async def test_refused_pictures_are_told_to_the_asker_alone(
    imuse: Muse, slack: SlackApiStandin
) -> None:
    imuse.moderator = Moderator([ModerationRule(id="no-gore", words=["gore"])])
    async with running(imuse, slack) as r:
        bad = await r.command("/imagine", "x --steps 999")
        assert bad["response_type"] == "ephemeral" and bad["text"].startswith("--steps 999:")
        assert (await r.command("/imagine", "some gore"))["text"] == DRAWING  # checked later
        [refused] = await slack.wait_for(RESPONSE_URL)
        assert refused.params == {**refused.params, "response_type": "ephemeral"}
        assert refused.params["text"] == "I can't help with that here."
        # A button whose request Muse no longer knows.
        stale = {"ts": "1700000000.000900", "text": "", "blocks": []}
        await r.press("muse:img:reroll:999", stale)
        [gone] = await slack.wait_for("chat.postEphemeral")
        assert gone.params["user"] == ALICE and gone.params["text"].startswith("I no longer know")
        assert not slack.calls("chat.postMessage") and not slack.calls("files.getUploadURLExternal")


async def test_imagine_in_a_thread_brings_its_buttons_there(
    imuse: Muse, slack: SlackApiStandin
) -> None:
    async with running(imuse, slack) as r:
        parent = mention_event("hello")
        await r.event(parent)
        await answered(imuse, key(thread=parent["ts"]))
        ask = message_event(
            CHANNEL_ID, ALICE, f"{mention()} /imagine a kite --seed 3", thread_ts=parent["ts"]
        )
        await r.event(ask)
        buttons = await picture_buttons(slack, 1)
        assert buttons["thread_ts"] == parent["ts"]
        [shared] = slack.uploaded_files()
        assert shared.thread_ts == parent["ts"] and "seed 3 " in (shared.initial_comment or "")


async def test_imagine_without_an_image_model_says_so(smuse: Muse, slack: SlackApiStandin) -> None:
    async with running(smuse, slack) as r:
        assert await r.command("/imagine", "a cat") == {
            "text": IMAGES_OFF,
            "response_type": "ephemeral",
        }


# -- scheduled posts, Socket Mode ---------------------------------------------------------------


async def test_outbound_posts_into_channels_and_threads(
    smuse: Muse, slack: SlackApiStandin
) -> None:
    async with running(smuse, slack):
        outbound = smuse.outbounds["slack"]
        target = Target("slack", CHANNEL_ID, TEAM_ID)
        assert await outbound.channel_name(target) == f"#chan-{CHANNEL_ID.lower()}"
        sent = await (await outbound.open(target)).send("Good **morning**!")
        [post] = posts(slack)
        assert post.params["text"] == "Good *morning*!" and "thread_ts" not in post.params
        assert sent.message_ids == (post.response["ts"],)

        thread = Target("slack", CHANNEL_ID, TEAM_ID, "1700000000.000400")
        picture = Attachment("daily.png", PNG_MAGIC + b"data")
        await (await outbound.open(thread)).upload([picture], "Today's picture")
        [shared] = slack.uploaded_files()
        assert (shared.data, shared.thread_ts) == (PNG_MAGIC + b"data", "1700000000.000400")
        assert shared.initial_comment == "Today's picture"

        slack.channels["C0NOTHERE"] = {"id": "C0NOTHERE", "name": "secret", "is_member": False}
        for bad in (
            Target("slack", "general"),
            Target("slack", CHANNEL_ID, "T0SOMEWHERE"),
            Target("slack", "C0NOTHERE"),
        ):
            with pytest.raises(UserError):
                await outbound.open(bad)


async def test_socket_mode_serves_the_same_listeners(smuse: Muse, slack: SlackApiStandin) -> None:
    settings = SlackSettings(
        bot_token=BOT_TOKEN,
        app_token=APP_TOKEN,
        mode="socket",
        api_url=slack.api_url,
        update_interval_seconds=0.02,
    )
    adapter = SlackAdapter(smuse, settings)
    task = asyncio.create_task(adapter.run())
    try:
        await slack.socket.wait_connected()
        event = mention_event("over the socket")
        envelope = await slack.socket.push_event(event_callback(event))
        assert (await slack.socket.wait_for_ack(envelope)).payload is None
        [stored] = await answered(smuse, key(thread=event["ts"]))
        [post] = posts(slack)
        assert post.params["thread_ts"] == event["ts"]
        assert slack.message(CHANNEL_ID, post.response["ts"])["text"] == to_mrkdwn(  # type: ignore[index]
            stored.content
        )
        # A slash command is acknowledged through the socket, with the ack's text.
        fields = slash_command_fields("/imagine", "a cat", response_url=slack.response_url())
        command = await slack.socket.push_slash_command(fields)
        assert (await slack.socket.wait_for_ack(command)).payload == {
            "text": IMAGES_OFF,
            "response_type": "ephemeral",
        }
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
    assert not slack.socket.open_connections
    assert "slack" not in smuse.outbounds


# -- settings -------------------------------------------------------------------------------------


def test_settings_need_the_modes_credentials() -> None:
    assert SlackAdapter.configured(SlackSettings(bot_token=" xoxb-1 ", app_token="xapp-1"))
    assert not SlackAdapter.configured(SlackSettings())  # Slack off: nothing needed
    with pytest.raises(ValidationError, match="needs app_token"):
        SlackSettings(bot_token="xoxb-1")
    with pytest.raises(ValidationError, match="needs signing_secret"):
        SlackSettings(bot_token="xoxb-1", mode="http")
    with pytest.raises(ValidationError) as err:
        SlackSettings(api_url="slack.com", http_path="events")
    assert [(e["loc"], e["msg"]) for e in err.value.errors()] == [
        (("http_path",), "Value error, must start with /"),
        (("api_url",), "Value error, must start with https://"),
    ]


async def _true(value: bool) -> bool:
    return value


async def test_schedule_commands_are_for_admins(smuse: Muse, slack: SlackApiStandin) -> None:
    with_scheduler(smuse)  # /schedule, so the adapter offers it
    async with running(smuse, slack) as r:
        for i, args in enumerate(["add daily 09:00 UTC text A haiku", "run-now 1", "remove 1"]):
            await r.command("/schedule", args)  # Alice is no admin
            refused = (await slack.wait_for(RESPONSE_URL, i + 1))[-1]
            assert refused.params["response_type"] == "ephemeral", args
            assert refused.params["text"].startswith("Only admins can use /schedule"), args
        assert await smuse.memory.connection.execute_fetchall("SELECT id FROM schedules") == []

        await r.command("/schedule", "add daily 09:00 UTC text A haiku", user=BOB)

        async def added() -> bool:
            rows = await smuse.memory.connection.execute_fetchall("SELECT id FROM schedules")
            return len(list(rows)) == 1

        await eventually(added)
