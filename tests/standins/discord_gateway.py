"""The gateway half of the Discord stand-in: WebSocket sessions, opcodes, intents, RESUME.

Frames are JSON with Discord's opcodes. Each IDENTIFY opens a session (READY, then the test
guild's GUILD_CREATE); dispatches are numbered per session and kept so a RESUME replays what
a disconnected client missed. Outgoing frames are zlib-stream compressed when the URL asks
(`compress=zlib-stream`, as discord.py does): one zlib context per connection, each frame
ending in a Z_SYNC_FLUSH.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from tests.standins import discord_payloads as p
from tests.standins.discord_payloads import Json

# Gateway opcodes
DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE_UPDATE, VOICE_STATE_UPDATE = 0, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_GUILD_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 6, 7, 8, 9, 10, 11

_MESSAGE_EVENTS = {"MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE", "MESSAGE_DELETE_BULK"}
_REACTION_EVENTS = {
    "MESSAGE_REACTION_ADD",
    "MESSAGE_REACTION_REMOVE",
    "MESSAGE_REACTION_REMOVE_ALL",
}


@dataclass
class Session:
    id: str
    intents: int
    shard: list[int] | None
    seq: int = 0
    sent: list[Json] = field(default_factory=list)  # dispatches, kept for RESUME replay
    conn: Connection | None = None
    invalid: bool = False


class Connection:
    """One gateway WebSocket; compresses outgoing frames as its URL asked."""

    def __init__(self, ws: web.WebSocketResponse, compress: str | None, log: list[Json]) -> None:
        self.ws = ws
        self.compress = compress
        self._zlib = zlib.compressobj() if compress == "zlib-stream" else None
        self._zstd = _zstd_compressor() if compress == "zstd-stream" else None
        self._log = log
        self.session: Session | None = None
        self._lock = asyncio.Lock()

    async def send(self, frame: Json) -> None:
        self._log.append(frame)
        raw = json.dumps(frame).encode()
        async with self._lock:  # frames of one compressed stream must go out in order
            if self.ws.closed:
                return
            if self._zlib is not None:
                flushed = self._zlib.compress(raw) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                await self.ws.send_bytes(flushed)
            elif self._zstd is not None:
                await self.ws.send_bytes(self._zstd(raw))
            else:
                await self.ws.send_str(raw.decode())


def _zstd_compressor() -> Callable[[bytes], bytes]:
    # discord.py asks for zstd-stream instead when a zstd module is importable; each frame
    # must then be a complete block of one stream. (Not exercised here: no zstd installed.)
    try:
        import zstandard  # type: ignore[import-not-found]

        obj = zstandard.ZstdCompressor().compressobj()
        return lambda raw: obj.compress(raw) + obj.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
    except ImportError:
        from compression import zstd  # type: ignore[import-not-found]

        comp = zstd.ZstdCompressor()
        return lambda raw: comp.compress(raw, mode=zstd.ZstdCompressor.FLUSH_BLOCK)


class GatewayStandin:
    """Serves gateway connections for `DiscordStandin` (which owns the HTTP server)."""

    def __init__(
        self,
        *,
        token: str,
        guild: Json,
        heartbeat_interval_ms: int,
        on_change: Callable[[], Awaitable[None]],
    ) -> None:
        self.token = token
        self.guild = guild
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.ws_url = ""  # set once the server has its port
        self.identify_payloads: list[Json] = []
        # Privileged intents the application may use (the Developer Portal's switches).
        self.allowed_privileged = p.INTENT_MESSAGE_CONTENT | p.INTENT_GUILD_MEMBERS
        self.received: list[Json] = []  # frames from clients
        self.sent: list[Json] = []  # frames to clients, before compression
        self.queries: list[dict[str, str]] = []  # each connection's URL query
        self.heartbeats = 0
        self.ready_count = 0  # READYs sent plus RESUMEs completed
        self.sessions: dict[str, Session] = {}
        self.connections: list[Connection] = []
        self._on_change = on_change

    async def dispatch(self, event: str, data: Json) -> int:
        sessions = [s for s in self.sessions.values() if not s.invalid]
        if not sessions:
            raise RuntimeError("no gateway session: start a client (running_client) first")
        delivered = 0
        for session in sessions:
            shaped = for_intents(event, data, session.intents)
            if shaped is None:
                continue
            delivered += 1
            await self._send_dispatch(session, event, shaped)
        return delivered

    async def disconnect(self, code: int) -> None:
        for conn in list(self.connections):
            await conn.ws.close(code=code)

    async def request_reconnect(self) -> None:
        for conn in list(self.connections):
            await conn.send({"op": RECONNECT, "d": None})

    async def invalidate_sessions(self) -> None:
        for session in self.sessions.values():
            session.invalid = True
        for conn in list(self.connections):
            await conn.send({"op": INVALID_SESSION, "d": False})

    async def _send_dispatch(self, session: Session, event: str, data: Json) -> None:
        session.seq += 1
        frame = {"op": DISPATCH, "t": event, "s": session.seq, "d": data}
        session.sent.append(frame)  # buffered for RESUME even while disconnected
        if session.conn is not None:
            await session.conn.send(frame)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.queries.append(dict(request.query))
        conn = Connection(ws, request.query.get("compress"), self.sent)
        self.connections.append(conn)
        try:
            if request.query.get("encoding", "json") != "json":
                await ws.close(code=4002, message=b"Decode error")  # JSON only here
                return ws
            await conn.send({"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                raw = msg.data if isinstance(msg.data, str) else msg.data.decode()
                try:
                    frame = json.loads(raw)
                except ValueError:
                    await ws.close(code=4002, message=b"Decode error")
                    break
                self.received.append(frame)
                await self._op(conn, frame)
                await self._on_change()
        finally:
            self.connections.remove(conn)
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
        return ws

    async def _op(self, conn: Connection, frame: Json) -> None:
        op, data = frame.get("op"), frame.get("d")
        if op == HEARTBEAT:
            self.heartbeats += 1
            await conn.send({"op": HEARTBEAT_ACK})
        elif op == IDENTIFY:
            await self._identify(conn, data or {})
        elif op == RESUME:
            await self._resume(conn, data or {})
        elif op == REQUEST_GUILD_MEMBERS:
            await self._member_chunk(conn, data or {})
        elif op in (PRESENCE_UPDATE, VOICE_STATE_UPDATE):
            pass  # kept in `received`
        else:
            await conn.ws.close(code=4001, message=b"Unknown opcode")

    async def _identify(self, conn: Connection, data: Json) -> None:
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed")
            return
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated")
            return
        privileged = p.INTENT_MESSAGE_CONTENT | p.INTENT_GUILD_MEMBERS
        if int(data.get("intents") or 0) & privileged & ~self.allowed_privileged:
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        self.identify_payloads.append(data)
        session = Session(secrets.token_hex(16), int(data.get("intents") or 0), data.get("shard"))
        session.conn = conn
        conn.session = session
        self.sessions[session.id] = session
        await self._send_dispatch(session, "READY", p.ready(session.id, self.ws_url, session.shard))
        await self._send_dispatch(session, "GUILD_CREATE", self.guild)
        self.ready_count += 1

    async def _resume(self, conn: Connection, data: Json) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or session.invalid or data.get("token") != self.token:
            await conn.send({"op": INVALID_SESSION, "d": False})
            return
        session.conn = conn
        conn.session = session
        seq = int(data.get("seq") or 0)
        for frame in list(session.sent):
            if frame["s"] > seq:
                await conn.send(frame)
        await self._send_dispatch(session, "RESUMED", {})
        self.ready_count += 1

    async def _member_chunk(self, conn: Connection, data: Json) -> None:
        if conn.session is None:
            return
        members = self.guild["members"]
        if data.get("user_ids"):
            wanted = {int(u) for u in data["user_ids"]}
            members = [m for m in members if int(m["user"]["id"]) in wanted]
        elif data.get("query"):
            members = [m for m in members if m["user"]["username"].startswith(data["query"])]
        chunk: Json = {
            "guild_id": str(p.GUILD_ID),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("presences"):
            chunk["presences"] = []
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        await self._send_dispatch(conn.session, "GUILD_MEMBERS_CHUNK", chunk)

    async def close(self) -> None:
        for conn in list(self.connections):
            await conn.ws.close(code=1001)


def for_intents(event: str, data: Json, intents: int) -> Json | None:
    """The event as a session with these intents receives it, or None if it does not."""
    in_guild = bool(data.get("guild_id"))
    if event in _MESSAGE_EVENTS:
        needed = p.INTENT_GUILD_MESSAGES if in_guild else p.INTENT_DIRECT_MESSAGES
    elif event in _REACTION_EVENTS:
        needed = p.INTENT_GUILD_MESSAGE_REACTIONS if in_guild else p.INTENT_DIRECT_MESSAGE_REACTIONS
    else:
        return data
    if not intents & needed:
        return None
    needs_content = event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and in_guild
    if needs_content and not intents & p.INTENT_MESSAGE_CONTENT:
        author = int(data.get("author", {}).get("id", 0))
        mentioned = any(int(m["id"]) == p.BOT_USER_ID for m in data.get("mentions", []))
        if author != p.BOT_USER_ID and not mentioned:
            # Privileged intent missing: Discord blanks these fields.
            return {**data, "content": "", "embeds": [], "attachments": [], "components": []}
    return data
