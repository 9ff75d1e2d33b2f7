"""The Slack stand-ins, proven with the real slack_bolt / slack_sdk (HTTP and Socket Mode).

HTTP mode is served the way Muse's Slack adapter should serve it: Bolt's aiohttp adapter
(`slack_bolt.adapter.aiohttp.to_bolt_request` → `AsyncApp.async_dispatch` →
`to_aiohttp_response`) inside our own `web.Application` run by `AppRunner`/`TCPSite`, so it
shares the bot's event loop (AsyncSlackAppServer.start() would call web.run_app and own it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from tests.standins.slack_api import (
    APP_TOKEN,
    BOT_TOKEN,
    BOT_USER_ID,
    RESPONSE_URL,
    TEAM_ID,
    UPLOAD,
    SlackApiStandin,
    ts_key,
)
from tests.standins.slack_signing import (
    ALICE,
    CHANNEL_ID,
    DM_CHANNEL_ID,
    SIGNING_SECRET,
    app_mention_event,
    event_callback,
    json_body,
    mention,
    signed_headers,
    slash_command_fields,
    slash_command_form,
    url_verification,
)

PICTURE = bytes(range(256)) * 4


def build_app(slack: SlackApiStandin, outcomes: asyncio.Queue[Any]) -> AsyncApp:
    client = AsyncWebClient(
        token=BOT_TOKEN,
        base_url=slack.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
    )
    app = AsyncApp(client=client, signing_secret=SIGNING_SECRET)

    @app.event("app_mention")
    async def on_mention(event: dict[str, Any], say: Any, client: AsyncWebClient) -> None:
        thread = event.get("thread_ts") or event["ts"]
        try:
            if "upload" in event["text"]:
                resp = await client.files_upload_v2(
                    channel=event["channel"],
                    thread_ts=thread,
                    content=PICTURE,
                    filename="muse.png",
                    title="A picture",
                    initial_comment="here it is",
                )
            else:
                resp = await say(text=f"heard: {event['text']}", thread_ts=thread)
            await outcomes.put(resp.data)
        except Exception as e:  # surface listener failures in the test, not just Bolt's log
            await outcomes.put(e)

    @app.command("/muse")
    async def on_command(ack: Any, command: dict[str, Any]) -> None:
        await ack(f"muse heard: {command['text']}")

    return app


async def next_outcome(outcomes: asyncio.Queue[Any]) -> dict[str, Any]:
    outcome = await asyncio.wait_for(outcomes.get(), 5)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


@dataclass
class BoltOverHttp:
    url: str
    http: aiohttp.ClientSession
    outcomes: asyncio.Queue[Any]

    async def post(self, body: str, headers: dict[str, str]) -> aiohttp.ClientResponse:
        async with self.http.post(self.url, data=body.encode(), headers=headers) as resp:
            await resp.read()
            return resp


@pytest.fixture
async def bolt(slack: SlackApiStandin) -> AsyncIterator[BoltOverHttp]:
    outcomes: asyncio.Queue[Any] = asyncio.Queue()
    app = build_app(slack, outcomes)

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post("/slack/events", events)
    runner = web.AppRunner(web_app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    async with aiohttp.ClientSession() as http:
        yield BoltOverHttp(f"http://{host}:{port}/slack/events", http, outcomes)
    await runner.cleanup()


def mention_body(text: str, thread_ts: str | None = None) -> tuple[str, dict[str, Any]]:
    event = app_mention_event(CHANNEL_ID, ALICE, f"{mention()} {text}", thread_ts=thread_ts)
    return json_body(event_callback(event)), event


async def test_signed_app_mention_gets_a_threaded_reply(
    slack: SlackApiStandin, bolt: BoltOverHttp
) -> None:
    body, event = mention_body("hello there")
    resp = await bolt.post(body, signed_headers(SIGNING_SECRET, body))
    assert resp.status == 200

    reply = await next_outcome(bolt.outcomes)
    (call,) = slack.calls("chat.postMessage")
    assert call.token == BOT_TOKEN
    assert call.content_type == "application/json"  # slack_sdk sends chat.* as JSON
    assert call.params["channel"] == CHANNEL_ID
    assert call.params["thread_ts"] == event["ts"]
    assert call.params["text"] == f"heard: {mention()} hello there"
    assert reply["ts"] == call.response["ts"]
    assert slack.message(CHANNEL_ID, reply["ts"])["thread_ts"] == event["ts"]
    # Bolt's single-team authorization asked who it is first.
    assert slack.calls("auth.test")[0].at <= call.at


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda body: signed_headers("not-the-secret", body), id="bad-signature"),
        pytest.param(
            lambda body: signed_headers(SIGNING_SECRET, body, timestamp=int(time.time()) - 360),
            id="stale-timestamp",
        ),
    ],
)
async def test_unverifiable_requests_are_refused(
    slack: SlackApiStandin, bolt: BoltOverHttp, headers: Any
) -> None:
    body, _ = mention_body("let me in")
    resp = await bolt.post(body, headers(body))
    assert resp.status == 401
    assert slack.calls() == []

    # A valid request afterwards is answered once: the refused one never reached the listener.
    good, _ = mention_body("now properly")
    assert (await bolt.post(good, signed_headers(SIGNING_SECRET, good))).status == 200
    await next_outcome(bolt.outcomes)
    assert [c.params["text"] for c in slack.calls("chat.postMessage")] == [
        f"heard: {mention()} now properly"
    ]


async def test_url_verification_echoes_the_challenge(bolt: BoltOverHttp) -> None:
    payload = url_verification()
    body = json_body(payload)
    async with bolt.http.post(
        bolt.url, data=body.encode(), headers=signed_headers(SIGNING_SECRET, body)
    ) as resp:
        assert resp.status == 200
        assert (await resp.json())["challenge"] == payload["challenge"]


async def test_slash_command_ack_body_is_the_http_response(
    slack: SlackApiStandin, bolt: BoltOverHttp
) -> None:
    body = slash_command_form("/muse", "draw a cat", response_url=slack.response_url())
    headers = signed_headers(SIGNING_SECRET, body)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    async with bolt.http.post(bolt.url, data=body.encode(), headers=headers) as resp:
        assert resp.status == 200
        # Bolt answers a text-only ack as plain text, which Slack shows to the invoker.
        assert await resp.text() == "muse heard: draw a cat"
    assert slack.calls("chat.postMessage") == []


async def test_files_upload_v2_runs_the_three_steps(
    slack: SlackApiStandin, bolt: BoltOverHttp
) -> None:
    body, event = mention_body("upload please")
    assert (await bolt.post(body, signed_headers(SIGNING_SECRET, body))).status == 200
    result = await next_outcome(bolt.outcomes)

    steps = [c.method for c in slack.calls() if c.method != "auth.test"]
    assert steps == ["files.getUploadURLExternal", UPLOAD, "files.completeUploadExternal"]
    get_url, upload, complete = (slack.calls(m)[0] for m in steps)
    assert get_url.params["filename"] == "muse.png"
    assert int(get_url.params["length"]) == len(PICTURE)
    assert upload.params["file_id"] == get_url.response["file_id"]
    assert complete.params["channel_id"] == CHANNEL_ID
    assert complete.params["thread_ts"] == event["ts"]

    (stored,) = slack.uploaded_files()
    assert stored.data == PICTURE
    assert stored.filename == "muse.png"
    assert stored.title == "A picture"
    assert (stored.channel_id, stored.thread_ts) == (CHANNEL_ID, event["ts"])
    assert stored.initial_comment == "here it is"
    assert result["file"]["id"] == stored.file_id
    assert result["file"]["size"] == len(PICTURE)
    (shared,) = slack.messages(CHANNEL_ID)
    assert shared["files"][0]["id"] == stored.file_id


async def test_ratelimited_post_is_retried_after_retry_after(
    slack: SlackApiStandin, bolt: BoltOverHttp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every sleep, with how many chat.postMessage calls the stand-in had seen when it began.
    sleeps: list[tuple[float, int]] = []
    real_sleep = asyncio.sleep

    async def recorded_sleep(delay: float, *args: object, **kwargs: object) -> object:
        sleeps.append((delay, len(slack.calls("chat.postMessage"))))
        return await real_sleep(delay, *args, **kwargs)

    monkeypatch.setattr(asyncio, "sleep", recorded_sleep)
    slack.ratelimit("chat.postMessage", times=1, retry_after=1)
    body, _ = mention_body("busy?")
    assert (await bolt.post(body, signed_headers(SIGNING_SECRET, body))).status == 200
    reply = await next_outcome(bolt.outcomes)

    first, second = slack.calls("chat.postMessage")
    assert (first.status, first.error) == (429, "ratelimited")
    assert second.ok and reply["ts"] == second.response["ts"]
    # The handler waited out Retry-After (slack_sdk adds up to 1 s of jitter) between the
    # refused call and its retry.
    [(delay, seen)] = [(delay, seen) for delay, seen in sleeps if delay >= 1.0]
    assert delay < 2.0 and seen == 1


async def test_socket_mode_event_and_command_are_handled_and_acked(
    slack: SlackApiStandin,
) -> None:
    outcomes: asyncio.Queue[Any] = asyncio.Queue()
    app = build_app(slack, outcomes)
    handler = AsyncSocketModeHandler(app, app_token=APP_TOKEN)
    await handler.connect_async()
    try:
        await slack.socket.wait_connected()
        (opened,) = slack.calls("apps.connections.open")
        assert opened.ok and opened.token == APP_TOKEN

        event = app_mention_event(CHANNEL_ID, ALICE, f"{mention()} over the socket")
        envelope_id = await slack.socket.push_event(event_callback(event))
        ack = await slack.socket.wait_for_ack(envelope_id)
        assert ack.payload is None  # events are acked with the bare envelope_id
        reply = await next_outcome(outcomes)
        (call,) = slack.calls("chat.postMessage")
        assert call.params["thread_ts"] == event["ts"]
        assert reply["ts"] == call.response["ts"]

        fields = slash_command_fields("/muse", "from socket", response_url=slack.response_url())
        command_env = await slack.socket.push_slash_command(fields)
        command_ack = await slack.socket.wait_for_ack(command_env)
        assert command_ack.payload == {"text": "muse heard: from socket"}
    finally:
        await handler.close_async()


async def test_socket_mode_reconnects_on_disconnect_request(slack: SlackApiStandin) -> None:
    app = build_app(slack, asyncio.Queue())
    handler = AsyncSocketModeHandler(app, app_token=APP_TOKEN)
    await handler.connect_async()
    try:
        await slack.socket.wait_connected()
        await slack.socket.send_disconnect()
        await slack.socket.wait_connected(count=2)
        assert len(slack.calls("apps.connections.open")) == 2  # each URL is single-use
    finally:
        await handler.close_async()


# --- the Web API stand-in on its own, through the real AsyncWebClient -------------------------


@pytest.fixture
async def client(slack: SlackApiStandin) -> AsyncWebClient:
    return AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)


async def test_post_update_delete_keep_state(
    slack: SlackApiStandin, client: AsyncWebClient
) -> None:
    first = await client.chat_postMessage(channel=CHANNEL_ID, text="one")
    second = await client.chat_postMessage(channel=CHANNEL_ID, text="two")
    assert ts_key(second["ts"]) > ts_key(first["ts"])
    assert first["message"]["user"] == BOT_USER_ID

    updated = await client.chat_update(channel=CHANNEL_ID, ts=first["ts"], text="one, edited")
    assert updated["text"] == "one, edited"
    await client.chat_delete(channel=CHANNEL_ID, ts=second["ts"])
    assert [m["text"] for m in slack.messages(CHANNEL_ID)] == ["one, edited"]

    with pytest.raises(SlackApiError) as err:
        await client.chat_update(channel=CHANNEL_ID, ts="1.000001", text="ghost")
    assert err.value.response["error"] == "message_not_found"
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel=CHANNEL_ID, text="x" * 4_001)
    assert err.value.response["error"] == "msg_too_long"

    eph = await client.chat_postEphemeral(channel=CHANNEL_ID, user=ALICE, text="psst")
    assert slack.ephemerals[0]["to"] == ALICE and eph["message_ts"]


async def test_auth_errors_unknown_methods_and_injected_failures(
    slack: SlackApiStandin, client: AsyncWebClient
) -> None:
    async def error_of(call: Any) -> str:
        with pytest.raises(SlackApiError) as err:
            await call
        return err.value.response["error"]

    anonymous = AsyncWebClient(base_url=slack.api_url)
    assert await error_of(anonymous.auth_test()) == "not_authed"
    wrong = AsyncWebClient(token="xoxb-nope", base_url=slack.api_url)
    assert await error_of(wrong.auth_test()) == "invalid_auth"
    assert await error_of(client.apps_connections_open(app_token=BOT_TOKEN)) == (
        "not_allowed_token_type"
    )
    assert await error_of(client.api_call("chat.meMessage")) == "unknown_method"
    slack.fail("chat.postMessage", "channel_not_found")
    assert await error_of(client.chat_postMessage(channel="C0NOPE", text="hi")) == (
        "channel_not_found"
    )
    assert (await client.chat_postMessage(channel=CHANNEL_ID, text="hi"))["ok"]
    assert [c.ok for c in slack.calls()][-1] is True


async def test_reactions_and_lookups(slack: SlackApiStandin, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL_ID, text="react to me")
    await client.reactions_add(channel=CHANNEL_ID, timestamp=posted["ts"], name="eyes")
    with pytest.raises(SlackApiError) as err:
        await client.reactions_add(channel=CHANNEL_ID, timestamp=posted["ts"], name="eyes")
    assert err.value.response["error"] == "already_reacted"
    assert slack.reactions == [(CHANNEL_ID, posted["ts"], "eyes")]
    (first_add, _) = slack.calls("reactions.add")
    assert first_add.params["name"] == "eyes"  # form/query params are parsed too

    dm = await client.conversations_info(channel=DM_CHANNEL_ID)
    assert dm["channel"]["is_im"] is True
    slack.users[ALICE] = {"id": ALICE, "name": "alice", "real_name": "Alice", "is_bot": False}
    assert (await client.users_info(user=ALICE))["user"]["real_name"] == "Alice"
    assert (await client.users_info(user=BOT_USER_ID))["user"]["is_bot"] is True
    assert (await client.auth_test())["team_id"] == TEAM_ID


async def test_response_url_posts_are_recorded(slack: SlackApiStandin) -> None:
    url = slack.response_url()
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"text": "later", "response_type": "in_channel"}) as r:
            assert r.status == 200
    (call,) = await slack.wait_for(RESPONSE_URL)
    assert call.params["text"] == "later" and call.params["url"] == url
