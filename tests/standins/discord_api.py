"""Local stand-in for Discord's REST API and gateway, for tests that drive the real discord.py.

    async with DiscordStandin() as discord_api:
        client = discord.Client(intents=..., guild_ready_timeout=0.05)
        async with running_client(discord_api, client):
            await discord_api.send_user_message(GENERAL_CHANNEL_ID, f"<@{BOT_USER_ID}> hi")
            [call] = await discord_api.wait_for_call("POST", r"/channels/\\d+/messages")

`patch_discord()` points discord.py at the stand-in: `discord.http.Route.BASE` for REST and
`DiscordWebSocket.DEFAULT_GATEWAY` (a plain `discord.Client` never asks `/gateway/bot`; only
`AutoShardedClient` does, and that answer also points here).

What is faithful to Discord (so adapter bugs show up here rather than in production):
- JSON frames with opcodes 10/1/11/2/0/6/7/8/9, per-session sequence numbers, RESUME replay of
  events missed while disconnected, and zlib-stream transport compression (one zlib context
  per connection, each frame ending in Z_SYNC_FLUSH), as discord.py asks for.
- Gateway intents: guild/DM message and reaction events only reach sessions that asked for
  them; without MESSAGE_CONTENT, guild messages arrive with empty content unless they
  mention the bot.
- The bot's own messages, edits, deletions, reactions and new threads echo back as gateway
  events (`echo=False` turns that off).
- Message limits: content over 2,000 characters, more than 10 embeds or files, uploads over
  10 MiB and empty messages are refused with Discord's error codes.
- Interactions: the initial response must come within 3 s (`interaction_deadline`) and only
  once; followups need an acknowledged interaction; the first followup after a "thinking"
  defer (type 5) completes the loading message; `expire_interaction()` makes the token
  invalid as after 15 minutes.
- 429s carry `retry_after`, `global`, `Retry-After`, `X-RateLimit-*` and `Via` (without
  `Via`, discord.py takes a 429 for a Cloudflare ban and does not retry).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import re
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import discord
import yarl
from aiohttp import BodyPartReader, web
from discord.gateway import DiscordWebSocket

from tests.standins import discord_payloads as p
from tests.standins.discord_gateway import GatewayStandin
from tests.standins.discord_payloads import *  # noqa: F403  (builders and ids, for one import)
from tests.standins.discord_payloads import Json

API_PREFIX = "/api/v10"
GATEWAY_PATH = "/gateway-ws"
MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_FILES = 10
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # guild without boosts
INTERACTION_DEADLINE = 3.0

EPHEMERAL = 1 << 6
LOADING = 1 << 7


@dataclass(frozen=True)
class RecordedCall:
    """One HTTP request the client made, as the stand-in saw and answered it."""

    method: str
    path: str  # after /api/v10, percent-decoded, e.g. "/channels/1/messages"
    query: dict[str, str]
    json: Any  # the JSON body, or a multipart request's payload_json; None if neither
    files: list[tuple[str, bytes]]  # multipart `files[n]` parts as (filename, bytes), in order
    headers: dict[str, str]
    at: float  # time.monotonic() when the request arrived
    status: int
    response: Any  # the JSON answered (None for 204)
    form: dict[str, str] = field(default_factory=dict)  # other multipart text fields

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class InteractionRecord:
    """An interaction the stand-in dispatched, and how the bot answered it."""

    id: int
    token: str
    type: int  # 2 slash command, 3 component, 4 autocomplete
    payload: Json
    dispatched_at: float  # time.monotonic()
    response_type: int | None = None  # callback type: 4 message, 5 deferred, 6, 7, 8, 9
    response_data: Json | None = None
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    expired: bool = False
    late: bool = False  # a callback arrived after the deadline and was refused

    @property
    def channel_id(self) -> int:
        return int(self.payload["channel_id"])


class ApiError(Exception):
    """Answers a request with Discord's error JSON."""

    def __init__(self, status: int, code: int, message: str, errors: Json | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: Json = {"message": message, "code": code}
        if errors is not None:
            self.body["errors"] = errors


def _form_error(field_name: str, code: str, message: str) -> ApiError:
    errors = {field_name: {"_errors": [{"code": code, "message": message}]}}
    return ApiError(400, 50035, "Invalid Form Body", errors)


@dataclass
class _Injection:
    method: str
    pattern: re.Pattern[str]
    remaining: int
    status: int
    body: Json
    headers: dict[str, str]


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[tuple[str, bytes, str | None]]  # filename, data, content type
    groups: tuple[str, ...]


Handler = Callable[[_Request], Any]


class DiscordStandin:
    """Discord's REST API and gateway on 127.0.0.1, recording every call."""

    def __init__(
        self,
        *,
        token: str = p.TOKEN,
        echo: bool = True,
        heartbeat_interval_ms: int = 41_250,
        interaction_deadline: float | None = INTERACTION_DEADLINE,
    ) -> None:
        self.token = token
        self.echo = echo
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.interaction_deadline = interaction_deadline

        self.guild: Json = p.guild_create()
        self.channels: dict[int, Json] = {
            int(c["id"]): c for c in self.guild["channels"] + self.guild["threads"]
        }
        self.channels[p.DM_CHANNEL_ID] = p.dm_channel()
        self.messages: dict[int, Json] = {}  # current state of every known message
        self.deleted_message_ids: list[int] = []
        self.files: dict[int, tuple[str, bytes]] = {}  # attachment id -> (filename, data)
        self.synced_commands: dict[int | None, list[Json]] = {}  # None: global commands
        self.interactions: dict[int, InteractionRecord] = {}
        # GET applications/@me `flags`: the Message Content intent is on (the Portal switch).
        self.application_flags = p.APPLICATION_FLAGS

        self._calls: list[RecordedCall] = []
        self._injections: list[_Injection] = []
        self._command_ids: dict[tuple[int | None, str], int] = {}
        self._changed: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None
        self._echoes: asyncio.Queue[tuple[str, Json]] | None = None
        self._echo_task: asyncio.Task[None] | None = None
        self.internal_errors: list[str] = []  # stand-in bugs, answered with 503
        self.port = 0
        self.gateway = GatewayStandin(
            token=token,
            guild=self.guild,
            heartbeat_interval_ms=heartbeat_interval_ms,
            on_change=self._notify,
        )
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._add_routes()

    # lifecycle

    async def start(self) -> DiscordStandin:
        self._changed = asyncio.Condition()
        self._echoes = asyncio.Queue()
        self._echo_task = asyncio.create_task(self._send_echoes())
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only through the server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]
        self.gateway.ws_url = self.ws_url
        return self

    async def close(self) -> None:
        await self.gateway.close()
        if self._echo_task is not None:
            self._echo_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._echo_task
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordStandin:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{GATEWAY_PATH}"

    @contextlib.contextmanager
    def patch_discord(self) -> Iterator[None]:
        """Point discord.py's REST base and default gateway here; restore them afterwards."""
        old_base = discord.http.Route.BASE
        old_gateway = DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.api_url
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.ws_url)
        try:
            yield
        finally:
            discord.http.Route.BASE = old_base
            DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    # test controls

    def calls(
        self,
        method: str | None = None,
        path_regex: str | re.Pattern[str] | None = None,
        *,
        status: int | None = None,
    ) -> list[RecordedCall]:
        """Recorded calls, oldest first; `path_regex` must match the whole path (fullmatch)."""
        pattern = re.compile(path_regex) if path_regex is not None else None
        return [
            c
            for c in self._calls
            if (method is None or c.method == method.upper())
            and (pattern is None or pattern.fullmatch(c.path))
            and (status is None or c.status == status)
        ]

    async def wait_for_call(
        self,
        method: str | None,
        path_regex: str | re.Pattern[str] | None = None,
        count: int = 1,
        timeout: float = 5.0,
        *,
        status: int | None = None,
    ) -> list[RecordedCall]:
        """Wait until `count` matching calls were answered; returns all matching calls."""
        await self.wait_until(
            lambda: len(self.calls(method, path_regex, status=status)) >= count,
            timeout,
            f"{count} x {method} {path_regex} (status {status})",
        )
        return self.calls(method, path_regex, status=status)

    def rate_limit(
        self,
        method: str,
        path_regex: str,
        times: int = 1,
        retry_after: float = 0.5,
        *,
        is_global: bool = False,
    ) -> None:
        """Answer the next `times` matching calls with 429, as Discord documents it."""
        reset_after = f"{retry_after:.3f}"
        headers = {
            "Retry-After": str(max(1, round(retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": reset_after,
            "X-RateLimit-Bucket": _bucket(method, path_regex),
            "X-RateLimit-Scope": "global" if is_global else "user",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": is_global,
        }
        self.inject(method, path_regex, 429, body, times=times, headers=headers)

    def inject(
        self,
        method: str,
        path_regex: str,
        status: int,
        body: Json,
        *,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next `times` matching calls with this status and JSON, skipping the
        real handler (e.g. 403 {"message": "Missing Permissions", "code": 50013})."""
        self._injections.append(
            _Injection(
                method.upper(), re.compile(path_regex), times, status, body, dict(headers or {})
            )
        )

    async def wait_ready(self, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until `count` sessions got READY and the guild (or a RESUME finished).

        discord.py fires on_ready only `guild_ready_timeout` later; see `running_client`.
        """
        await self.wait_until(lambda: self.gateway.ready_count >= count, timeout, f"{count} READY")

    async def dispatch(self, event: str, data: Json) -> int:
        """Send a DISPATCH (op 0) to every live session, filtered by its intents.

        Also updates the stand-in's state: MESSAGE_CREATE stores the message,
        INTERACTION_CREATE registers the interaction (its token becomes valid), THREAD_CREATE
        adds the channel. Returns how many sessions the event was sent to (or buffered for,
        while one is disconnected and may RESUME).
        """
        self._observe(event, data)
        return await self.gateway.dispatch(event, data)

    async def disconnect(self, code: int = 4000) -> None:
        """Close every gateway connection from the server side; clients RESUME."""
        await self.gateway.disconnect(code)

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT; clients reconnect and RESUME."""
        await self.gateway.request_reconnect()

    async def invalidate_sessions(self) -> None:
        """Send op 9 INVALID_SESSION (not resumable); clients IDENTIFY again."""
        await self.gateway.invalidate_sessions()

    # what the gateway saw

    @property
    def identify_payloads(self) -> list[Json]:
        return self.gateway.identify_payloads

    @property
    def gateway_received(self) -> list[Json]:
        """Frames clients sent (heartbeats, IDENTIFY, RESUME, presence updates...)."""
        return self.gateway.received

    @property
    def gateway_sent(self) -> list[Json]:
        """Frames sent to clients, before compression."""
        return self.gateway.sent

    @property
    def gateway_queries(self) -> list[dict[str, str]]:
        """Each gateway connection's URL query (v, encoding, compress)."""
        return self.gateway.queries

    @property
    def heartbeats(self) -> int:
        return self.gateway.heartbeats

    def expire_interaction(self, interaction: int | str) -> None:
        """Make an interaction's token invalid, as Discord does after 15 minutes."""
        self.interaction(interaction).expired = True

    # convenience: build, dispatch, return

    async def send_user_message(self, channel_id: int, content: str, **kwargs: Any) -> Json:
        """Dispatch MESSAGE_CREATE from a user (see `message_create`); returns the payload.

        Guild id defaults from the channel: None for the DM channel.
        """
        if "guild_id" not in kwargs and self.channels.get(channel_id, {}).get("type") == p.DM:
            kwargs["guild_id"] = None
        data = p.message_create(channel_id, content, **kwargs)
        await self.dispatch("MESSAGE_CREATE", data)
        return data

    def past_message(
        self, channel_id: int, content: str, *, at: float, author: int = p.NORMAL_USER_ID
    ) -> Json:
        """A message said at `at` (a Unix time) while the bot was away: only history shows it."""
        message = p.message(channel_id, content, author=author, message_id=p.snowflake_at(at))
        message["timestamp"] = p.iso(at)
        self.messages[int(message["id"])] = message
        return message

    def synced_command(self, name: str, guild_id: int | None = None) -> Json:
        """The command object as synced (guild commands first, then global)."""
        scopes = [guild_id, None] if guild_id is not None else [None, *self.synced_commands]
        for scope in scopes:
            for command in self.synced_commands.get(scope, []):
                if command["name"] == name:
                    return command
        raise LookupError(f"command {name!r} was never synced (synced: {self.synced_commands})")

    async def slash(
        self, name: str, options: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> InteractionRecord:
        """Dispatch a slash command the bot has synced; returns its record.

        Option types come from the synced definition. kwargs as `interaction_create_slash`.
        """
        command = self.synced_command(name.split()[0], kwargs.get("guild_id", p.GUILD_ID))
        if command.get("guild_id"):
            kwargs.setdefault("command_guild_id", int(command["guild_id"]))
        channel_id = kwargs.get("channel_id", p.GENERAL_CHANNEL_ID)
        kwargs.setdefault("channel", self.channels.get(channel_id))
        kwargs.setdefault("channels", self.channels)
        data = p.interaction_create_slash(name, options, command=command, **kwargs)
        await self.dispatch("INTERACTION_CREATE", data)
        return self.interactions[int(data["id"])]

    async def autocomplete(
        self, name: str, options: Mapping[str, Any], focused: str, **kwargs: Any
    ) -> InteractionRecord:
        """Dispatch autocomplete for a synced command's option `focused`; the bot answers
        with callback type 8 (`record.response_data["choices"]`)."""
        command = self.synced_command(name.split()[0], kwargs.get("guild_id", p.GUILD_ID))
        if command.get("guild_id"):
            kwargs.setdefault("command_guild_id", int(command["guild_id"]))
        kwargs.setdefault(
            "channel", self.channels.get(kwargs.get("channel_id", p.GENERAL_CHANNEL_ID))
        )
        data = p.interaction_create_autocomplete(name, options, focused, command=command, **kwargs)
        await self.dispatch("INTERACTION_CREATE", data)
        return self.interactions[int(data["id"])]

    async def click(self, custom_id: str, message_id: int, **kwargs: Any) -> InteractionRecord:
        """Dispatch a button press on a stored message; kwargs as `interaction_create_component`."""
        message = self.messages[message_id]
        kwargs.setdefault("channel", self.channels.get(int(message["channel_id"])))
        data = p.interaction_create_component(custom_id, message, **kwargs)
        await self.dispatch("INTERACTION_CREATE", data)
        return self.interactions[int(data["id"])]

    async def react(self, message_id: int, user_id: int, emoji_name: str) -> Json:
        message = self.messages[message_id]
        channel = self.channels.get(int(message["channel_id"]), {})
        data = p.reaction_add(
            message_id,
            int(message["channel_id"]),
            user_id,
            emoji_name,
            guild_id=int(channel["guild_id"]) if channel.get("guild_id") else None,
            message_author_id=int(message["author"]["id"]),
        )
        reactions = message.setdefault("reactions", [])
        found = next((r for r in reactions if r["emoji"]["name"] == emoji_name), None)
        if found is None:
            reactions.append({"count": 1, "me": False, "emoji": {"id": None, "name": emoji_name}})
        else:
            found["count"] += 1
        await self.dispatch("MESSAGE_REACTION_ADD", data)
        return data

    def add_attachment(self, filename: str, data: bytes, content_type: str = "image/png") -> Json:
        """An attachment object whose URL this stand-in serves (for user uploads)."""
        attachment_id = p.snowflake()
        self.files[attachment_id] = (filename, data)
        url = f"{self.base_url}/attachments/{attachment_id}/{filename}"
        return p.attachment(
            url, filename, len(data), attachment_id=attachment_id, content_type=content_type
        )

    # state queries

    def channel_messages(self, channel_id: int) -> list[Json]:
        """Messages in a channel or thread, oldest first, deleted ones left out."""
        return [m for m in self.messages.values() if int(m["channel_id"]) == channel_id]

    def bot_messages(self, channel_id: int | None = None) -> list[Json]:
        return [
            m
            for m in self.messages.values()
            if int(m["author"]["id"]) == p.BOT_USER_ID
            and (channel_id is None or int(m["channel_id"]) == channel_id)
        ]

    def attachment_data(self, attachment: Json) -> bytes:
        return self.files[int(attachment["id"])][1]

    def visible_commands(self, user_id: int, *, in_dm: bool = False) -> list[str]:
        """The synced commands Discord offers this user in its command picker, by name.

        In a server (the stand-in's guild, its own and the global commands): a command
        with `default_member_permissions` only to members whose permissions include all of
        those bits ("0": to none but admins); Administrator and the owner see everything
        (no per-command overrides are set in the server's Integrations settings). In a DM:
        the commands whose `contexts` include BOT_DM (1), or, without contexts, whose
        `dm_permission` is true; `default_member_permissions` do not apply there.
        """
        if in_dm:
            scopes = [None]
        else:
            scopes = [p.GUILD_ID, None]
        perms = p.permissions_for(user_id)
        seen: dict[str, Json] = {}
        for scope in scopes:
            for command in self.synced_commands.get(scope, []):
                seen.setdefault(command["name"], command)
        visible = []
        for name, command in seen.items():
            if in_dm:
                contexts = command.get("contexts")
                allowed = 1 in contexts if contexts is not None else command["dm_permission"]
            else:
                needed = command.get("default_member_permissions")
                allowed = (
                    needed is None
                    or bool(perms & p.ADMINISTRATOR)
                    or (int(needed) != 0 and perms & int(needed) == int(needed))
                )
            if allowed:
                visible.append(name)
        return sorted(visible)

    def answers(self, record: InteractionRecord) -> list[Json]:
        """What an interaction's answer shows, oldest first: its response message (once a
        deferred one is completed) and its followups, as they are now."""
        ids: list[int] = []
        original = self.messages.get(record.original_message_id or 0)
        if original is not None and not int(original["flags"]) & LOADING:
            ids.append(int(original["id"]))
        ids += [i for i in record.followup_ids if i not in ids]
        return [self.messages[i] for i in ids if i in self.messages]

    async def wait_answered(self, record: InteractionRecord, timeout: float = 10.0) -> list[Json]:
        """Wait for the interaction's first answer (see `answers`); returns the answers."""
        await self.wait_until(lambda: bool(self.answers(record)), timeout, "an answer")
        return self.answers(record)

    def interaction(self, key: int | str) -> InteractionRecord:
        """An interaction by id or token."""
        if isinstance(key, int):
            return self.interactions[key]
        for record in self.interactions.values():
            if record.token == key:
                return record
        raise KeyError(key)

    # internals: waiting and recording

    async def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        assert self._changed is not None, "start() the stand-in first"
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(predicate), timeout)
            except TimeoutError:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what}; calls so far: "
                    + ", ".join(f"{c.method} {c.path} {c.status}" for c in self._calls)
                ) from None

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    def _observe(self, event: str, data: Json) -> None:
        if event == "MESSAGE_CREATE":
            stored = {k: v for k, v in data.items() if k not in ("guild_id", "member")}
            self.messages[int(data["id"])] = stored
        elif event == "INTERACTION_CREATE":
            record = InteractionRecord(
                id=int(data["id"]),
                token=data["token"],
                type=int(data["type"]),
                payload=data,
                dispatched_at=time.monotonic(),
            )
            self.interactions[record.id] = record
        elif event in ("THREAD_CREATE", "CHANNEL_CREATE"):
            self.channels[int(data["id"])] = data

    def _echo(self, event: str, data: Json) -> None:
        """Queue the gateway event Discord sends about the bot's own change.

        The event is a snapshot taken now; one task sends them in order, after the HTTP
        answer is on its way (on Discord either may arrive first).
        """
        if self.echo and self.gateway.sessions and self._echoes is not None:
            self._echoes.put_nowait((event, copy.deepcopy(data)))

    async def _send_echoes(self) -> None:
        assert self._echoes is not None
        while True:
            event, data = await self._echoes.get()
            with contextlib.suppress(RuntimeError):  # no live session any more
                await self.gateway.dispatch(event, data)

    # HTTP entry

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == GATEWAY_PATH:
            return await self.gateway.handle(request)
        arrived = time.monotonic()
        path = request.path
        if path.startswith(API_PREFIX):
            path = path[len(API_PREFIX) :]
        body, files, form = await _read_body(request)
        method = request.method
        status, response, headers = await self._answer(method, path, request, body, files)
        self._calls.append(
            RecordedCall(
                method=method,
                path=path,
                query=dict(request.query),
                json=body,
                files=[(name, data) for name, data, _ in files],
                headers=dict(request.headers),
                at=arrived,
                status=status,
                response=response if not isinstance(response, bytes) else None,
                form=form,
            )
        )
        await self._notify()
        headers = {"Via": "1.1 google", **headers}
        if isinstance(response, bytes):
            return web.Response(status=status, body=response, headers=headers)
        if status == 204 or response is None:
            return web.Response(status=204, headers=headers)
        # exactly "application/json": discord.py parses nothing else (no charset suffix)
        return web.Response(
            status=status,
            body=json.dumps(response).encode(),
            content_type="application/json",
            headers=headers,
        )

    async def _answer(
        self,
        method: str,
        path: str,
        request: web.Request,
        body: Any,
        files: list[tuple[str, bytes, str | None]],
    ) -> tuple[int, Any, dict[str, str]]:
        if method == "GET" and path.startswith("/attachments/"):
            return self._cdn(path)
        if not request.path.startswith(API_PREFIX):
            return 404, {"message": "404: Not Found", "code": 0}, {}
        for injection in self._injections:
            if injection.method == method and injection.pattern.fullmatch(path):
                injection.remaining -= 1
                if injection.remaining <= 0:
                    self._injections.remove(injection)
                return injection.status, injection.body, injection.headers
        known_path = False
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            known_path = known_path or match is not None
            if route_method != method or match is None:
                continue
            if not _tokenless(path) and request.headers.get("Authorization") != f"Bot {self.token}":
                return 401, {"message": "401: Unauthorized", "code": 0}, {}
            req = _Request(method, path, dict(request.query), body, files, match.groups())
            try:
                result = handler(req)
                if asyncio.iscoroutine(result):
                    result = await result
            except ApiError as exc:
                return exc.status, exc.body, {}
            except Exception:
                # A bug in the stand-in: 503 makes discord.py fail at once instead of retrying.
                self.internal_errors.append(traceback.format_exc())
                return 503, {"message": "stand-in error", "code": 0}, {}
            headers = {
                "X-RateLimit-Limit": "50",
                "X-RateLimit-Remaining": "49",
                "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
                "X-RateLimit-Reset-After": "1.000",
                "X-RateLimit-Bucket": _bucket(route_method, pattern.pattern),
            }
            return (204 if result is None else 200), result, headers
        if known_path:
            return 405, {"message": "405: Method Not Allowed", "code": 0}, {}
        return 404, {"message": "404: Not Found", "code": 0}, {}

    def _cdn(self, path: str) -> tuple[int, Any, dict[str, str]]:
        match = re.fullmatch(r"/attachments/(\d+)/[^/]+", path)
        if match is None or int(match.group(1)) not in self.files:
            return 404, {"message": "404: Not Found", "code": 0}, {}
        return 200, self.files[int(match.group(1))][1], {}

    # REST routes

    def _add_routes(self) -> None:
        snow = r"(\d+)"
        token = r"([A-Za-z0-9_.\-]+)"
        msg = rf"/channels/{snow}/messages/{snow}"
        routes: list[tuple[str, str, Handler]] = [
            ("GET", r"/gateway", lambda r: {"url": self.ws_url}),
            ("GET", r"/gateway/bot", self._gateway_bot),
            ("GET", r"/users/@me", lambda r: p.user(p.BOT_USER_ID)),
            ("GET", rf"/users/{snow}", self._get_user),
            ("POST", r"/users/@me/channels", self._create_dm),
            ("GET", r"/oauth2/applications/@me", self._application),
            ("GET", r"/applications/@me", self._application),
            ("GET", rf"/guilds/{snow}", self._get_guild),
            ("GET", rf"/guilds/{snow}/channels", self._guild_channels),
            ("GET", rf"/guilds/{snow}/roles", lambda r: self._guild(r.groups[0])["roles"]),
            ("GET", rf"/guilds/{snow}/members/{snow}", self._get_member),
            ("GET", rf"/guilds/{snow}/threads/active", self._active_threads),
            ("GET", rf"/channels/{snow}", lambda r: self._channel(r.groups[0])),
            ("PATCH", rf"/channels/{snow}", self._edit_channel),
            ("POST", rf"/channels/{snow}/typing", self._typing),
            ("GET", rf"/channels/{snow}/messages", self._history),
            ("POST", rf"/channels/{snow}/messages", self._create_message),
            ("GET", msg, lambda r: self._message(r.groups[0], r.groups[1])),
            ("PATCH", msg, self._edit_message),
            ("DELETE", msg, self._delete_message),
            ("POST", rf"/channels/{snow}/threads", self._create_thread),
            ("POST", rf"{msg}/threads", self._create_thread_from_message),
            ("PUT", rf"/channels/{snow}/thread-members/@me", self._join_thread),
            ("PUT", rf"{msg}/reactions/([^/]+)/@me", self._add_reaction),
            ("DELETE", rf"{msg}/reactions/([^/]+)/(@me|\d+)", self._remove_reaction),
            ("GET", rf"{msg}/reactions/([^/]+)", self._reaction_users),
            ("DELETE", rf"{msg}/reactions", self._clear_reactions),
            ("GET", rf"/applications/{snow}/commands", self._get_commands),
            ("PUT", rf"/applications/{snow}/commands", self._put_commands),
            ("POST", rf"/applications/{snow}/commands", self._post_command),
            ("DELETE", rf"/applications/{snow}/commands/{snow}", self._delete_command),
            ("GET", rf"/applications/{snow}/guilds/{snow}/commands", self._get_commands),
            ("PUT", rf"/applications/{snow}/guilds/{snow}/commands", self._put_commands),
            ("POST", rf"/applications/{snow}/guilds/{snow}/commands", self._post_command),
            (
                "DELETE",
                rf"/applications/{snow}/guilds/{snow}/commands/{snow}",
                self._delete_command,
            ),
            ("POST", rf"/interactions/{snow}/{token}/callback", self._interaction_callback),
            ("POST", rf"/webhooks/{snow}/{token}", self._followup),
            (
                "GET",
                rf"/webhooks/{snow}/{token}/messages/(@original|\d+)",
                self._get_webhook_message,
            ),
            (
                "PATCH",
                rf"/webhooks/{snow}/{token}/messages/(@original|\d+)",
                self._edit_webhook_message,
            ),
            (
                "DELETE",
                rf"/webhooks/{snow}/{token}/messages/(@original|\d+)",
                self._delete_webhook_message,
            ),
        ]
        self._routes = [(m, re.compile(rx), h) for m, rx, h in routes]

    def _gateway_bot(self, req: _Request) -> Json:
        return {
            "url": self.ws_url,
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 14_400_000,
                "max_concurrency": 1,
            },
        }

    def _application(self, req: _Request) -> Json:
        return {**p.application_info(), "flags": self.application_flags}

    def _get_user(self, req: _Request) -> Json:
        user_id = int(req.groups[0])
        if user_id not in p.USERS:
            raise ApiError(404, 10013, "Unknown User")
        return p.user(user_id)

    def _create_dm(self, req: _Request) -> Json:
        recipient = int((req.json or {}).get("recipient_id", 0))
        if recipient not in p.USERS:
            raise ApiError(400, 50033, "Invalid Recipients")
        if recipient == p.NORMAL_USER_ID:
            return self.channels[p.DM_CHANNEL_ID]
        for channel in self.channels.values():
            if channel["type"] == p.DM and int(channel["recipients"][0]["id"]) == recipient:
                return channel
        channel = p.dm_channel(p.snowflake(), recipient)
        self.channels[int(channel["id"])] = channel
        return channel

    def _guild(self, guild_id: str) -> Json:
        if int(guild_id) != p.GUILD_ID:
            raise ApiError(404, 10004, "Unknown Guild")
        return self.guild

    def _get_guild(self, req: _Request) -> Json:
        guild = self._guild(req.groups[0])
        skip = ("members", "channels", "threads", "presences", "voice_states", "joined_at", "large")
        return {k: v for k, v in guild.items() if k not in skip}

    def _guild_channels(self, req: _Request) -> list[Json]:
        self._guild(req.groups[0])
        return [c for c in self.channels.values() if c["type"] == p.GUILD_TEXT]

    def _get_member(self, req: _Request) -> Json:
        self._guild(req.groups[0])
        user_id = int(req.groups[1])
        if user_id not in p.USERS:
            raise ApiError(404, 10007, "Unknown Member")
        return p.member(user_id)

    def _active_threads(self, req: _Request) -> Json:
        self._guild(req.groups[0])
        threads = [
            c for c in self.channels.values() if c["type"] in (p.PUBLIC_THREAD, p.PRIVATE_THREAD)
        ]
        return {"threads": threads, "members": []}

    def _channel(self, channel_id: str) -> Json:
        channel = self.channels.get(int(channel_id))
        if channel is None:
            raise ApiError(404, 10003, "Unknown Channel")
        return channel

    def _edit_channel(self, req: _Request) -> Json:
        channel = self._channel(req.groups[0])
        changes = dict(req.json or {})
        if channel["type"] in (p.PUBLIC_THREAD, p.PRIVATE_THREAD):
            meta = channel["thread_metadata"]
            for key in ("archived", "locked", "auto_archive_duration", "invitable"):
                if key in changes:
                    meta[key] = changes.pop(key)
        channel.update(changes)
        self._echo("THREAD_UPDATE" if "thread_metadata" in channel else "CHANNEL_UPDATE", channel)
        return channel

    def _typing(self, req: _Request) -> None:
        self._channel(req.groups[0])
        return None

    def _history(self, req: _Request) -> list[Json]:
        """GET /channels/{id}/messages: `limit` 1-100 (default 50), one of `before`,
        `after`, `around`; newest first, as Discord answers."""
        self._channel(req.groups[0])
        found = sorted(self.channel_messages(int(req.groups[0])), key=lambda m: int(m["id"]))
        limit = int(req.query.get("limit", 50))
        if not 1 <= limit <= 100:
            raise _form_error("limit", "NUMBER_TYPE_MAX", "int value should be <= 100 and >= 1")
        if "before" in req.query:
            found = [m for m in found if int(m["id"]) < int(req.query["before"])]
        if "after" in req.query:
            found = [m for m in found if int(m["id"]) > int(req.query["after"])]
            return list(reversed(found[:limit]))  # the oldest `limit` after it
        return list(reversed(found))[:limit]

    def _message(self, channel_id: str, message_id: str) -> Json:
        self._channel(channel_id)
        message = self.messages.get(int(message_id))
        if message is None or message["channel_id"] != channel_id:
            raise ApiError(404, 10008, "Unknown Message")
        return message

    def _create_message(self, req: _Request) -> Json:
        channel = self._channel(req.groups[0])
        body = dict(req.json or {})
        self._check_message(body, req.files, new=True)
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            # Discord answers a repeated nonce with the message it already created.
            for message in self.channel_messages(int(channel["id"])):
                if message.get("nonce") == nonce:
                    return message
        reference = body.get("message_reference")
        referenced = None
        if reference:
            referenced = self.messages.get(int(reference.get("message_id", 0)))
            if referenced is None and reference.get("fail_if_not_exists", True):
                raise _form_error(
                    "message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                )
            reference = {
                "type": reference.get("type", 0),
                "message_id": str(reference.get("message_id")),
                "channel_id": str(reference.get("channel_id") or channel["id"]),
                **({"guild_id": channel["guild_id"]} if channel.get("guild_id") else {}),
            }
        message = self._new_message(
            int(channel["id"]),
            body,
            req.files,
            message_reference=reference,
            referenced_message=referenced,
        )
        return message

    def _new_message(
        self,
        channel_id: int,
        body: Json,
        files: list[tuple[str, bytes, str | None]],
        *,
        author: Json | None = None,
        message_type: int | None = None,
        flags: int = 0,
        webhook_id: int | None = None,
        interaction_metadata: Json | None = None,
        message_reference: Json | None = None,
        referenced_message: Json | None = None,
    ) -> Json:
        message = p.message(
            channel_id,
            body.get("content") or "",
            author=author or p.user(p.BOT_USER_ID),
            attachments=self._attachments(body, files, []),
            embeds=body.get("embeds") or [],
            components=body.get("components") or [],
            flags=flags | int(body.get("flags") or 0),
            webhook_id=webhook_id,
            message_type=message_type,
            message_reference=message_reference,
            referenced_message=referenced_message,
        )
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
        if interaction_metadata is not None:
            message["interaction_metadata"] = interaction_metadata
            message["application_id"] = str(p.APPLICATION_ID)
        self.messages[int(message["id"])] = message
        channel = self.channels.get(channel_id)
        if channel is not None:
            channel["last_message_id"] = message["id"]
            if "message_count" in channel:
                channel["message_count"] += 1
                channel["total_message_sent"] = channel.get("total_message_sent", 0) + 1
        if not message["flags"] & EPHEMERAL:
            self._echo("MESSAGE_CREATE", self._gateway_message(message))
        return message

    def _gateway_message(self, message: Json) -> Json:
        data = dict(message)
        channel = self.channels.get(int(message["channel_id"]), {})
        if channel.get("guild_id"):
            data["guild_id"] = channel["guild_id"]
            author_id = int(message["author"]["id"])
            if author_id in p.USERS and "webhook_id" not in message:
                data["member"] = p.member(author_id, with_user=False)
        return data

    def _attachments(
        self, body: Json, files: list[tuple[str, bytes, str | None]], current: list[Json]
    ) -> list[Json]:
        """Attachments after a create/edit: kept ones (by id) plus the uploaded files."""
        listed = body.get("attachments")
        kept = {a["id"]: a for a in current}
        out: list[Json] = []
        used: set[int] = set()
        for entry in (
            listed if listed is not None else [*current, *({"id": i} for i in range(len(files)))]
        ):
            entry_id = str(entry.get("id"))
            if entry_id in kept:
                out.append(kept[entry_id])
            elif entry_id.isdigit() and int(entry_id) < len(files):
                used.add(int(entry_id))
                out.append(self._store_file(files[int(entry_id)], entry))
        for index, upload in enumerate(files):  # uploads the payload did not list
            if index not in used and listed is not None:
                out.append(self._store_file(upload, {}))
        return out

    def _store_file(self, upload: tuple[str, bytes, str | None], entry: Json) -> Json:
        filename, data, content_type = upload
        attachment_id = p.snowflake()
        self.files[attachment_id] = (filename, data)
        url = f"{self.base_url}/attachments/{attachment_id}/{filename}"
        attachment = p.attachment(
            url, filename, len(data), attachment_id=attachment_id, content_type=content_type
        )
        if entry.get("description"):
            attachment["description"] = entry["description"]
        return attachment

    def _check_message(
        self, body: Json, files: list[tuple[str, bytes, str | None]], *, new: bool
    ) -> None:
        content = body.get("content")
        if content is not None and len(content) > MAX_CONTENT:
            raise _form_error(
                "content", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length."
            )
        if len(body.get("embeds") or []) > MAX_EMBEDS:
            raise _form_error(
                "embeds", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBEDS} or fewer in length."
            )
        if len(files) > MAX_FILES:
            raise _form_error(
                "files", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_FILES} or fewer in length."
            )
        if sum(len(data) for _, data, _ in files) > MAX_UPLOAD_BYTES:
            raise ApiError(413, 40005, "Request entity too large")
        has_something = (
            (content or "").strip() or body.get("embeds") or files or body.get("components")
        )
        if new and not has_something and not body.get("sticker_ids") and not body.get("poll"):
            raise ApiError(400, 50006, "Cannot send an empty message")

    def _edit(self, message: Json, body: Json, files: list[tuple[str, bytes, str | None]]) -> Json:
        self._check_message(body, files, new=False)
        for key in ("content", "embeds", "components", "flags"):
            if key in body and body[key] is not None:
                message[key] = body[key]
        if "attachments" in body or files:
            message["attachments"] = self._attachments(body, files, message["attachments"])
        if "content" in body and body["content"] is not None:
            message["mentions"] = p.message(0, body["content"])["mentions"]
        message["edited_timestamp"] = p.iso()
        if not int(message.get("flags", 0)) & EPHEMERAL:
            self._echo("MESSAGE_UPDATE", self._gateway_message(message))
        return message

    def _edit_message(self, req: _Request) -> Json:
        message = self._message(req.groups[0], req.groups[1])
        if int(message["author"]["id"]) != p.BOT_USER_ID:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        return self._edit(message, dict(req.json or {}), req.files)

    def _delete_message(self, req: _Request) -> None:
        message = self._message(req.groups[0], req.groups[1])
        self._forget_message(message)

    def _forget_message(self, message: Json) -> None:
        del self.messages[int(message["id"])]
        self.deleted_message_ids.append(int(message["id"]))
        channel = self.channels.get(int(message["channel_id"]), {})
        event: Json = {"id": message["id"], "channel_id": message["channel_id"]}
        if channel.get("guild_id"):
            event["guild_id"] = channel["guild_id"]
        if not int(message.get("flags", 0)) & EPHEMERAL:
            self._echo("MESSAGE_DELETE", event)

    def _new_thread(self, parent: Json, thread_id: int, body: Json, thread_type: int) -> Json:
        if parent["type"] != p.GUILD_TEXT:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        name = body.get("name") or ""
        if not 1 <= len(name) <= 100:
            raise _form_error(
                "name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            )
        thread = p.thread_channel(
            thread_id,
            int(parent["id"]),
            name,
            owner_id=p.BOT_USER_ID,
            thread_type=thread_type,
            auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
        )
        thread["member"] = {
            "id": str(thread_id),
            "user_id": str(p.BOT_USER_ID),
            "join_timestamp": p.iso(),
            "flags": 0,
        }
        self.channels[thread_id] = thread
        self.guild["threads"].append(thread)
        self._echo("THREAD_CREATE", {**thread, "newly_created": True})
        return thread

    def _create_thread(self, req: _Request) -> Json:
        parent = self._channel(req.groups[0])
        body = dict(req.json or {})
        thread_type = int(body.get("type") or p.PRIVATE_THREAD)  # Discord's default
        return self._new_thread(parent, p.snowflake(), body, thread_type)

    def _create_thread_from_message(self, req: _Request) -> Json:
        parent = self._channel(req.groups[0])
        message = self._message(req.groups[0], req.groups[1])
        if "thread" in message or int(message["id"]) in self.channels:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        thread = self._new_thread(parent, int(message["id"]), dict(req.json or {}), p.PUBLIC_THREAD)
        message["thread"] = thread  # threads started from a message share its id
        return thread

    def _join_thread(self, req: _Request) -> None:
        self._channel(req.groups[0])
        return None

    def _add_reaction(self, req: _Request) -> None:
        message = self._message(req.groups[0], req.groups[1])
        emoji = req.groups[2]
        reactions = message.setdefault("reactions", [])
        found = next((r for r in reactions if r["emoji"]["name"] == emoji), None)
        if found is None:
            reactions.append({"count": 1, "me": True, "emoji": {"id": None, "name": emoji}})
        elif not found["me"]:
            found["count"] += 1
            found["me"] = True
        channel = self.channels.get(int(message["channel_id"]), {})
        guild_id = int(channel["guild_id"]) if channel.get("guild_id") else None
        self._echo(
            "MESSAGE_REACTION_ADD",
            p.reaction_add(
                int(message["id"]),
                int(message["channel_id"]),
                p.BOT_USER_ID,
                emoji,
                guild_id=guild_id,
            ),
        )
        return None

    def _remove_reaction(self, req: _Request) -> None:
        message = self._message(req.groups[0], req.groups[1])
        emoji, who = req.groups[2], req.groups[3]
        for reaction in message.get("reactions", []):
            if reaction["emoji"]["name"] == emoji:
                reaction["count"] -= 1
                if who == "@me":
                    reaction["me"] = False
        message["reactions"] = [r for r in message.get("reactions", []) if r["count"] > 0]
        return None

    def _reaction_users(self, req: _Request) -> list[Json]:
        message = self._message(req.groups[0], req.groups[1])
        mine = any(
            r["me"] and r["emoji"]["name"] == req.groups[2] for r in message.get("reactions", [])
        )
        return [p.user(p.BOT_USER_ID)] if mine else []

    def _clear_reactions(self, req: _Request) -> None:
        self._message(req.groups[0], req.groups[1])["reactions"] = []
        return None

    # application commands

    def _command_scope(self, req: _Request) -> int | None:
        if int(req.groups[0]) != p.APPLICATION_ID:
            raise ApiError(403, 50001, "Missing Access")
        if "/guilds/" in req.path:
            self._guild(req.groups[1])
            return int(req.groups[1])
        return None

    def _command(self, scope: int | None, body: Json) -> Json:
        key = (scope, body["name"])
        command_id = self._command_ids.setdefault(key, p.snowflake())  # ids survive re-syncs
        command: Json = {
            "type": 1,
            "description": "",
            "options": [],
            "default_member_permissions": None,
            "dm_permission": True,
            "nsfw": False,
            "contexts": None,
            "integration_types": [0],
            **body,
            "id": str(command_id),
            "application_id": str(p.APPLICATION_ID),
            "version": str(p.snowflake()),
        }
        if command["default_member_permissions"] is not None:
            # A permission bit set is a string in Discord's answers, whatever was sent.
            command["default_member_permissions"] = str(int(command["default_member_permissions"]))
        if scope is not None:
            command["guild_id"] = str(scope)
        return command

    def _get_commands(self, req: _Request) -> list[Json]:
        return self.synced_commands.get(self._command_scope(req), [])

    def _put_commands(self, req: _Request) -> list[Json]:
        scope = self._command_scope(req)
        commands = [self._command(scope, c) for c in req.json or []]
        names = [c["name"] for c in commands]
        if len(set(names)) != len(names):
            raise _form_error(
                "_errors", "APPLICATION_COMMANDS_DUPLICATE_NAME", "Duplicate command name"
            )
        self.synced_commands[scope] = commands
        return commands

    def _post_command(self, req: _Request) -> Json:
        scope = self._command_scope(req)
        command = self._command(scope, dict(req.json or {}))
        existing = [c for c in self.synced_commands.get(scope, []) if c["name"] != command["name"]]
        self.synced_commands[scope] = [*existing, command]
        return command

    def _delete_command(self, req: _Request) -> None:
        scope = self._command_scope(req)
        command_id = req.groups[-1]
        self.synced_commands[scope] = [
            c for c in self.synced_commands.get(scope, []) if c["id"] != command_id
        ]
        return None

    # interactions

    def _live_interaction(self, token: str) -> InteractionRecord:
        try:
            record = self.interaction(token)
        except KeyError:
            raise ApiError(404, 10015, "Unknown Webhook") from None
        if record.expired:
            raise ApiError(401, 50027, "Invalid Webhook Token")
        return record

    def _interaction_callback(self, req: _Request) -> Json | None:
        record = self.interactions.get(int(req.groups[0]))
        if record is None or record.token != req.groups[1] or record.expired:
            raise ApiError(404, 10062, "Unknown interaction")
        if self.interaction_deadline is not None and (
            time.monotonic() - record.dispatched_at > self.interaction_deadline
        ):
            record.late = True
            raise ApiError(404, 10062, "Unknown interaction")
        if record.response_type is not None:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        body = dict(req.json or {})
        kind = int(body.get("type", 0))
        data = dict(body.get("data") or {})
        flags = int(data.get("flags") or 0)
        metadata = {
            "id": str(record.id),
            "type": record.type,
            "user": self._interaction_user(record),
            "authorizing_integration_owners": record.payload.get(
                "authorizing_integration_owners", {}
            ),
        }
        message: Json | None = None
        if kind in (4, 5):
            if kind == 4:
                self._check_message(data, req.files, new=True)
            message = self._new_message(
                record.channel_id,
                data if kind == 4 else {},
                req.files if kind == 4 else [],
                author=p.user(p.BOT_USER_ID),
                message_type=20 if record.type == 2 else 0,
                flags=(flags & EPHEMERAL) | (LOADING if kind == 5 else 0),
                webhook_id=p.APPLICATION_ID,
                interaction_metadata=metadata,
            )
            record.original_message_id = int(message["id"])
        elif kind in (6, 7):
            if record.type != 3:
                raise ApiError(
                    400, 40043, "Interaction callback type not allowed for this interaction"
                )
            message = self.messages.get(int(record.payload["message"]["id"]))
            if message is None:
                raise ApiError(404, 10008, "Unknown Message")
            if kind == 7:
                message = self._edit(message, data, req.files)
            record.original_message_id = int(message["id"])
        elif kind not in (8, 9):
            raise _form_error(
                "type", "BASE_TYPE_CHOICES", f"Value must be one of (4, 5, 6, 7, 8, 9); got {kind}."
            )
        record.response_type = kind
        record.response_data = data
        if req.query.get("with_response") not in ("1", "true", "True"):
            return None
        answer: Json = {
            "interaction": {
                "id": str(record.id),
                "type": record.type,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(flags & EPHEMERAL),
            },
            "resource": {"type": kind},
        }
        if message is not None:
            answer["interaction"]["response_message_id"] = message["id"]
            answer["resource"]["message"] = message
        return answer

    def _interaction_user(self, record: InteractionRecord) -> Json:
        payload = record.payload
        return payload["member"]["user"] if "member" in payload else payload["user"]

    def _check_webhook(self, req: _Request) -> InteractionRecord:
        if int(req.groups[0]) != p.APPLICATION_ID:
            raise ApiError(404, 10015, "Unknown Webhook")
        record = self._live_interaction(req.groups[1])
        if record.response_type is None:
            raise ApiError(404, 10015, "Unknown Webhook")  # not acknowledged yet
        return record

    def _followup(self, req: _Request) -> Json | None:
        record = self._check_webhook(req)
        body = dict(req.json or {})
        self._check_message(body, req.files, new=True)
        original = self.messages.get(record.original_message_id or 0)
        if record.response_type == 5 and original is not None and original["flags"] & LOADING:
            # The first followup after a "thinking" defer completes the loading message.
            body["flags"] = int(original["flags"]) & ~LOADING
            message = self._edit(original, body, req.files)
        else:
            message = self._new_message(
                record.channel_id,
                body,
                req.files,
                author=p.user(p.BOT_USER_ID),
                message_type=20 if record.type == 2 else 0,
                webhook_id=p.APPLICATION_ID,
                interaction_metadata={"id": str(record.id), "type": record.type},
            )
        record.followup_ids.append(int(message["id"]))
        return message if req.query.get("wait") in ("1", "true", "True") else None

    def _webhook_message(self, req: _Request) -> Json:
        record = self._check_webhook(req)
        target = req.groups[2]
        message_id = record.original_message_id if target == "@original" else int(target)
        if message_id is None or message_id not in self.messages:
            raise ApiError(404, 10008, "Unknown Message")
        if target != "@original" and message_id not in record.followup_ids:
            raise ApiError(404, 10008, "Unknown Message")
        return self.messages[message_id]

    def _get_webhook_message(self, req: _Request) -> Json:
        return self._webhook_message(req)

    def _edit_webhook_message(self, req: _Request) -> Json:
        message = self._webhook_message(req)
        body = dict(req.json or {})
        body["flags"] = int(message["flags"]) & ~LOADING
        return self._edit(message, body, req.files)

    def _delete_webhook_message(self, req: _Request) -> None:
        self._forget_message(self._webhook_message(req))
        return None


def _tokenless(path: str) -> bool:
    """Interaction callbacks and webhooks with a token need no bot Authorization."""
    return path.startswith("/interactions/") or path.startswith("/webhooks/")


def _bucket(method: str, template: str) -> str:
    return hashlib.sha1(f"{method.upper()} {template}".encode()).hexdigest()[:16]


async def _read_body(
    request: web.Request,
) -> tuple[Any, list[tuple[str, bytes, str | None]], dict[str, str]]:
    """JSON body, or multipart `payload_json` + `files[n]` parts as discord.py sends them."""
    files: list[tuple[str, bytes, str | None]] = []
    form: dict[str, str] = {}
    if request.content_type.startswith("multipart/"):
        body: Any = None
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue  # nested multipart: discord.py never sends one
            data = await part.read(decode=False)
            name = part.name or ""
            if name == "payload_json":
                body = json.loads(data)
            elif part.filename is not None:
                files.append((part.filename, bytes(data), part.headers.get("Content-Type")))
            else:
                form[name] = bytes(data).decode()
        return body, files, form
    raw = await request.read()
    if not raw:
        return None, files, form
    try:
        return json.loads(raw), files, form
    except ValueError:
        return raw.decode(errors="replace"), files, form


C = TypeVar("C", bound=discord.Client)


@contextlib.asynccontextmanager
async def running_client(
    standin: DiscordStandin,
    client: C,
    *,
    token: str = p.TOKEN,
    timeout: float = 10.0,
    ready_timeout: float | None = 0.05,
) -> AsyncIterator[C]:
    """Run `client.start()` against the stand-in until on_ready; close it cleanly afterwards.

    discord.py waits `guild_ready_timeout` (2 s by default) after the last GUILD_CREATE before
    on_ready; `ready_timeout` shortens that for speed (None leaves the client's own setting).
    Errors from `client.start()` (bad token, crashes) are raised here.
    """
    if ready_timeout is not None:
        client._connection.guild_ready_timeout = ready_timeout  # test speed only
    with standin.patch_discord():
        task = asyncio.create_task(client.start(token))
        try:
            deadline = time.monotonic() + timeout
            while not client.is_ready():
                if task.done():
                    task.result()  # raises the start-up error
                    raise AssertionError("client.start() returned before on_ready")
                if time.monotonic() > deadline:
                    raise AssertionError(f"client not ready after {timeout}s")
                await asyncio.sleep(0.01)
            yield client
        finally:
            await client.close()
            try:
                await asyncio.wait_for(task, timeout)
            except (asyncio.CancelledError, discord.DiscordException, OSError):
                pass
