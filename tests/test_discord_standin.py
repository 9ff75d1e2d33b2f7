"""The Discord stand-in, proven with the real discord.py client against it."""

from __future__ import annotations

import asyncio
import io
import json
import zlib
from collections.abc import Awaitable, Callable

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.standins.discord_api import (
    ADMIN_USER_ID,
    ART_CHANNEL_ID,
    BOT_USER_ID,
    DM_CHANNEL_ID,
    GENERAL_CHANNEL_ID,
    GUILD_ID,
    NORMAL_USER_ID,
    THREAD_ID,
    DiscordStandin,
    running_client,
)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def _intents(message_content: bool = True) -> discord.Intents:
    intents = discord.Intents.default()
    intents.message_content = message_content
    return intents


async def test_client_connects_over_zlib_stream_and_sees_the_guild(standin: DiscordStandin) -> None:
    intents = _intents()
    intents.members = True  # privileged: without it only the bot's own member is cached
    client = discord.Client(intents=intents)
    ready = asyncio.Event()
    client.event(_setter("on_ready", ready))
    async with running_client(standin, client):
        await asyncio.wait_for(ready.wait(), 5)
        assert client.user is not None and client.user.id == BOT_USER_ID
        assert client.application_id == BOT_USER_ID
        guild = client.get_guild(GUILD_ID)
        assert guild is not None and guild.name == "Muse Test"
        assert {c.name for c in guild.text_channels} == {"general", "art"}
        thread = guild.get_thread(THREAD_ID)
        assert thread is not None and thread.parent_id == ART_CHANNEL_ID
        admin = guild.get_member(ADMIN_USER_ID)
        assert admin is not None and admin.guild_permissions.manage_guild
        normal = guild.get_member(NORMAL_USER_ID)
        assert normal is not None and not normal.guild_permissions.manage_guild

        # discord.py asked for zlib-stream and got compressed binary frames it could read.
        [identify] = standin.identify_payloads
        assert identify["intents"] == client.intents.value
        assert standin.gateway_queries[0]["compress"] == "zlib-stream"
        assert standin.gateway_queries[0]["encoding"] == "json"
        assert standin.heartbeats >= 1  # discord.py beats right after HELLO
        assert {"op": 11} in standin.gateway_sent

        with pytest.raises(discord.NotFound):
            await client.http.request(discord.http.Route("GET", "/no/such/route"))
        assert standin.calls("GET", r"/no/such/route", status=404)
        [login] = standin.calls("GET", r"/users/@me")
        assert login.headers["Authorization"] == "Bot muse-test-token"


async def test_reply_is_posted_with_message_reference(standin: DiscordStandin) -> None:
    client = discord.Client(intents=_intents())
    seen: list[discord.Message] = []

    @client.event
    async def on_message(message: discord.Message) -> None:
        seen.append(message)
        if message.author.bot:
            return
        await message.reply(f"echo: {message.content}")

    async with running_client(standin, client):
        sent = await standin.send_user_message(GENERAL_CHANNEL_ID, "hello muse")
        [call] = await standin.wait_for_call("POST", rf"/channels/{GENERAL_CHANNEL_ID}/messages")
        assert call.status == 200
        assert call.json["content"] == "echo: hello muse"
        assert call.json["message_reference"]["message_id"] == int(sent["id"])
        assert call.json["message_reference"]["channel_id"] == GENERAL_CHANNEL_ID
        reply = standin.messages[int(call.response["id"])]
        assert reply["type"] == 19 and reply["referenced_message"]["id"] == sent["id"]
        # Discord echoes the bot's own message back over the gateway.
        for _ in range(100):
            if len(seen) == 2:
                break
            await asyncio.sleep(0.01)
        assert [m.author.id for m in seen] == [NORMAL_USER_ID, BOT_USER_ID]
        assert seen[1].reference is not None and seen[1].reference.message_id == int(sent["id"])


async def test_rate_limited_post_is_retried(
    standin: DiscordStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = discord.Client(intents=_intents())

    @client.event
    async def on_message(message: discord.Message) -> None:
        if not message.author.bot:
            await message.channel.send("after the wait")

    path = rf"/channels/{GENERAL_CHANNEL_ID}/messages"
    # Every sleep, with how many posts the stand-in had seen when it began.
    sleeps: list[tuple[float, int]] = []
    real_sleep = asyncio.sleep

    async def recorded_sleep(delay: float, *args: object, **kwargs: object) -> object:
        sleeps.append((delay, len(standin.calls("POST", path))))
        return await real_sleep(delay, *args, **kwargs)

    monkeypatch.setattr(asyncio, "sleep", recorded_sleep)
    standin.rate_limit("POST", path, times=1, retry_after=0.237)
    async with running_client(standin, client):
        await standin.send_user_message(GENERAL_CHANNEL_ID, "go")
        await standin.wait_for_call("POST", path, status=200)
        limited, delivered = standin.calls("POST", path)
        assert limited.status == 429 and limited.response["retry_after"] == 0.237
        assert limited.response["global"] is False
        assert delivered.json == limited.json and delivered.json["content"] == "after the wait"
        # discord.py honoured retry_after: it slept exactly that long between the refused
        # post and its retry (and never before the refusal).
        assert [n for delay, n in sleeps if delay == 0.237] == [1]
        assert [m["content"] for m in standin.bot_messages(GENERAL_CHANNEL_ID)] == [
            "after the wait"
        ]


async def test_slash_command_defers_and_follows_up_with_a_file(standin: DiscordStandin) -> None:
    client = discord.Client(intents=_intents())
    tree = app_commands.CommandTree(client)
    got: list[tuple[str, int]] = []

    @tree.command(name="imagine", description="Draw a picture")
    async def imagine(interaction: discord.Interaction, prompt: str, steps: int = 4) -> None:
        got.append((prompt, steps))
        await interaction.response.defer(thinking=True)
        await interaction.followup.send(
            f"{prompt} in {steps} steps", file=discord.File(io.BytesIO(PNG), "picture.png")
        )

    async with running_client(standin, client):
        synced = await tree.sync()
        assert [c.name for c in synced] == ["imagine"]
        [command] = standin.synced_commands[None]
        assert {o["name"]: o["type"] for o in command["options"]} == {"prompt": 3, "steps": 4}

        record = await standin.slash("imagine", {"prompt": "a cat", "steps": 2})
        [followup] = await standin.wait_for_call("POST", r"/webhooks/\d+/[^/]+")
        assert got == [("a cat", 2)]
        [callback] = standin.calls("POST", rf"/interactions/{record.id}/[^/]+/callback")
        assert callback.json["type"] == 5 and record.response_type == 5
        assert followup.status == 200 and followup.query["wait"] == "1"
        assert followup.files == [("picture.png", PNG)]
        assert followup.json["content"] == "a cat in 2 steps"
        assert followup.json["attachments"][0]["filename"] == "picture.png"
        # The first followup completes the "thinking" message rather than posting anew.
        message = standin.messages[int(followup.response["id"])]
        assert int(message["id"]) == record.original_message_id
        assert message["flags"] == 0 and message["content"] == "a cat in 2 steps"
        assert standin.attachment_data(message["attachments"][0]) == PNG


async def test_guild_messages_lose_content_without_the_intent(standin: DiscordStandin) -> None:
    client = discord.Client(intents=_intents(message_content=False))
    seen: list[str] = []
    client.event(_collector("on_message", seen))
    async with running_client(standin, client):
        await standin.send_user_message(GENERAL_CHANNEL_ID, "not for the bot")
        await standin.send_user_message(GENERAL_CHANNEL_ID, f"<@{BOT_USER_ID}> for the bot")
        for _ in range(100):
            if len(seen) == 2:
                break
            await asyncio.sleep(0.01)
    assert seen == ["", f"<@{BOT_USER_ID}> for the bot"]


async def test_resume_replays_events_missed_while_disconnected(standin: DiscordStandin) -> None:
    client = discord.Client(intents=_intents())
    seen: list[str] = []
    client.event(_collector("on_message", seen))
    async with running_client(standin, client):
        await standin.disconnect(code=4000)
        await standin.send_user_message(GENERAL_CHANNEL_ID, "sent while away")
        await standin.wait_ready(count=2)  # the client RESUMEd on the same session
        for _ in range(200):
            if seen:
                break
            await asyncio.sleep(0.01)
        assert seen == ["sent while away"]
        assert len(standin.identify_payloads) == 1
        assert any(f.get("op") == 6 for f in standin.gateway_received)


async def test_gateway_speaks_plain_json_without_compression(standin: DiscordStandin) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(standin.ws_url + "?v=10&encoding=json") as ws:
            hello = await ws.receive(timeout=5)
            assert hello.type is aiohttp.WSMsgType.TEXT
            assert json.loads(hello.data)["op"] == 10
            await ws.send_json({"op": 1, "d": None})
            assert json.loads((await ws.receive(timeout=5)).data) == {"op": 11}
        async with session.ws_connect(standin.ws_url + "?v=10&compress=zlib-stream") as ws:
            frame = await ws.receive(timeout=5)
            assert frame.type is aiohttp.WSMsgType.BINARY
            assert frame.data.endswith(b"\x00\x00\xff\xff")
            assert json.loads(zlib.decompressobj().decompress(frame.data))["op"] == 10


async def test_threads_edits_reactions_and_typing(standin: DiscordStandin) -> None:
    intents = _intents()
    client = discord.Client(intents=intents)
    done = asyncio.Event()

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.author.bot:
            return
        async with message.channel.typing():
            thread = await message.create_thread(name="muse chat")
            sent = await thread.send("first draft")
            await sent.edit(content="final answer")
            await sent.add_reaction("👍")
            await sent.delete()
        done.set()

    async with running_client(standin, client):
        sent = await standin.send_user_message(ART_CHANNEL_ID, "start a thread")
        await asyncio.wait_for(done.wait(), 5)
        message_id = int(sent["id"])
        assert standin.calls("POST", rf"/channels/{ART_CHANNEL_ID}/typing", status=204)
        [create] = standin.calls(
            "POST", rf"/channels/{ART_CHANNEL_ID}/messages/{message_id}/threads"
        )
        assert create.json["name"] == "muse chat"
        assert standin.channels[message_id]["parent_id"] == str(ART_CHANNEL_ID)  # id = message id
        [post] = standin.calls("POST", rf"/channels/{message_id}/messages")
        [edit] = standin.calls("PATCH", rf"/channels/{message_id}/messages/\d+")
        assert edit.json["content"] == "final answer" and edit.response["edited_timestamp"]
        assert standin.calls("PUT", r".*/reactions/👍/@me", status=204)
        assert standin.calls("DELETE", rf"/channels/{message_id}/messages/\d+", status=204)
        assert int(post.response["id"]) in standin.deleted_message_ids
        # THREAD_CREATE came back over the gateway, so the client knows the thread.
        guild = client.get_guild(GUILD_ID)
        assert guild is not None
        for _ in range(100):
            if guild.get_thread(message_id) is not None:
                break
            await asyncio.sleep(0.01)
        assert guild.get_thread(message_id) is not None

        with pytest.raises(discord.HTTPException) as again:
            await client.http.start_thread_with_message(
                ART_CHANNEL_ID, message_id, name="x", auto_archive_duration=60
            )
        assert again.value.code == 160004


async def test_message_limits_are_enforced(standin: DiscordStandin) -> None:
    client = discord.Client(intents=_intents())
    async with running_client(standin, client):
        channel = client.get_channel(GENERAL_CHANNEL_ID)
        assert isinstance(channel, discord.TextChannel)
        with pytest.raises(discord.HTTPException) as too_long:
            await channel.send("x" * 2001)
        assert too_long.value.status == 400 and too_long.value.code == 50035
        with pytest.raises(discord.HTTPException) as empty:
            await channel.send("   ")
        assert empty.value.code == 50006
        with pytest.raises(discord.HTTPException) as too_many:
            await channel.send(
                files=[discord.File(io.BytesIO(b"x"), f"{i}.txt") for i in range(11)]
            )
        assert too_many.value.code == 50035
        ok = await channel.send("x" * 2000)
        assert len(ok.content) == 2000


async def test_buttons_and_ephemeral_answers(standin: DiscordStandin) -> None:
    client = discord.Client(intents=_intents())
    clicks: list[int] = []

    class Again(discord.ui.View):
        def __init__(self) -> None:
            super().__init__(timeout=None)

        @discord.ui.button(label="Again", custom_id="muse:again")
        async def again(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
            clicks.append(interaction.user.id)
            await interaction.response.send_message("working on it", ephemeral=True)

    async with running_client(standin, client):
        client.add_view(Again())  # persistent: matched by custom_id alone
        channel = client.get_channel(GENERAL_CHANNEL_ID)
        assert isinstance(channel, discord.TextChannel)
        posted = await channel.send("here is your picture", view=Again())
        row = standin.messages[posted.id]["components"][0]
        assert row["components"][0]["custom_id"] == "muse:again"

        record = await standin.click("muse:again", posted.id, user=ADMIN_USER_ID)
        await standin.wait_for_call("POST", r"/interactions/\d+/[^/]+/callback")
        assert clicks == [ADMIN_USER_ID]
        assert record.response_type == 4
        assert record.response_data is not None and record.response_data["flags"] == 64
        original = standin.messages[record.original_message_id or 0]
        assert original["content"] == "working on it" and original["flags"] & 64


async def test_interaction_rules_are_enforced(standin: DiscordStandin) -> None:
    client = discord.Client(intents=_intents())
    tree = app_commands.CommandTree(client)
    outcomes: list[str] = []

    @tree.command(name="ping", description="Answer twice")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong")
        try:
            await client.http.request(
                discord.http.Route(
                    "POST",
                    "/interactions/{i}/{t}/callback",
                    i=interaction.id,
                    t=interaction.token,
                ),
                json={"type": 4, "data": {"content": "again"}},
            )
        except discord.HTTPException as exc:
            outcomes.append(f"second answer {exc.code}")
        standin.expire_interaction(interaction.token)
        try:
            await interaction.followup.send("too late")
        except discord.HTTPException as exc:
            outcomes.append(f"expired {exc.code}")

    async with running_client(standin, client):
        await tree.sync()
        await standin.slash("ping")
        await standin.wait_for_call("POST", r"/webhooks/\d+/[^/]+")
        assert outcomes == ["second answer 40060", "expired 50027"]

        standin.interaction_deadline = 0.0  # every answer is now too late
        record = await standin.slash("ping")
        [late] = await standin.wait_for_call("POST", rf"/interactions/{record.id}/[^/]+/callback")
        assert late.status == 404 and late.response["code"] == 10062 and record.late


async def test_subcommands_dms_and_user_attachments(standin: DiscordStandin) -> None:
    client = discord.Client(intents=_intents())
    tree = app_commands.CommandTree(client)
    muse = app_commands.Group(name="muse", description="Muse")
    got: list[object] = []

    @muse.command(name="image", description="Draw")
    async def image(interaction: discord.Interaction, prompt: str, seed: int) -> None:
        got.append((prompt, seed, interaction.guild_id))
        await interaction.response.send_message("ok")

    @image.autocomplete("prompt")
    async def suggest(_: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=f"{current} fox", value=f"{current} fox")]

    tree.add_command(muse, guild=discord.Object(GUILD_ID))

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.author.bot:
            return
        data = await message.attachments[0].read() if message.attachments else b""
        got.append((message.guild, message.content, data))
        await message.channel.send("got it")

    async with running_client(standin, client):
        await tree.sync(guild=discord.Object(GUILD_ID))
        [command] = standin.synced_commands[GUILD_ID]
        assert command["options"][0]["type"] == 1  # subcommand
        await standin.slash("muse image", {"prompt": "a fox", "seed": 7})
        await standin.wait_for_call("POST", r"/interactions/\d+/[^/]+/callback")
        typed = await standin.autocomplete("muse image", {"prompt": "red", "seed": 1}, "prompt")
        await standin.wait_for_call("POST", r"/interactions/\d+/[^/]+/callback", count=2)
        assert typed.response_type == 8 and typed.response_data is not None
        assert typed.response_data["choices"] == [{"name": "red fox", "value": "red fox"}]

        upload = standin.add_attachment("sketch.png", PNG)
        await standin.send_user_message(DM_CHANNEL_ID, "look", attachments=[upload])
        await standin.wait_for_call("POST", rf"/channels/{DM_CHANNEL_ID}/messages")
    assert got == [("a fox", 7, GUILD_ID), (None, "look", PNG)]


async def test_reconnects_injected_errors_and_members_chunk(standin: DiscordStandin) -> None:
    intents = _intents()
    intents.members = True
    client = discord.Client(intents=intents)
    async with running_client(standin, client):
        await standin.request_reconnect()  # op 7: discord.py RESUMEs
        await standin.wait_ready(count=2)
        assert len(standin.identify_payloads) == 1
        # (invalidate_sessions() works too, but discord.py waits 5 s before re-IDENTIFYing.)
        guild = client.get_guild(GUILD_ID)
        assert guild is not None
        members = await guild.query_members(user_ids=[ADMIN_USER_ID])  # op 8
        assert [m.id for m in members] == [ADMIN_USER_ID]

        path = rf"/channels/{GENERAL_CHANNEL_ID}/messages"
        standin.inject("POST", path, 403, {"message": "Missing Permissions", "code": 50013})
        channel = guild.get_channel(GENERAL_CHANNEL_ID)
        assert isinstance(channel, discord.TextChannel)
        with pytest.raises(discord.Forbidden):
            await channel.send("nope")
        assert (await channel.send("yes")).content == "yes"  # only the next call failed


def _setter(name: str, event: asyncio.Event) -> Callable[..., Awaitable[None]]:
    async def handler(*_: object) -> None:
        event.set()

    handler.__name__ = name
    return handler


def _collector(name: str, into: list[str]) -> Callable[..., Awaitable[None]]:
    async def handler(message: discord.Message) -> None:
        if not message.author.bot:
            into.append(message.content)

    handler.__name__ = name
    return handler
