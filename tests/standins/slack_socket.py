"""Local stand-in for Slack's Socket Mode WebSocket endpoint.

It is served by `SlackApiStandin` (same aiohttp server, path `/link/`): the client first calls
`apps.connections.open` with its app-level token, gets `ws://127.0.0.1:PORT/link/?ticket=...`,
connects, receives `hello`, and then gets whatever envelopes a test pushes. Every frame the
client sends back that carries an `envelope_id` is recorded as an ack.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web


class Changes:
    """Wakes every waiter whenever recorded state changes (calls, acks, connections)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def until(
        self, ready: Callable[[], bool], timeout: float, what: Callable[[], str]
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not ready():
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what()}")
            event = self._event
            try:
                await asyncio.wait_for(event.wait(), left)
            except TimeoutError:
                pass


@dataclass(frozen=True)
class SocketAck:
    """One frame the client sent back for an envelope: `{"envelope_id": ..., "payload"?: ...}`."""

    envelope_id: str
    payload: dict[str, Any] | None
    raw: dict[str, Any]
    at: float  # time.monotonic()


@dataclass
class SocketConnection:
    ticket: str
    ws: web.WebSocketResponse
    received: list[dict[str, Any]] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return not self.ws.closed


class SlackSocketStandin:
    path = "/link/"

    def __init__(self, app_id: str, changes: Changes) -> None:
        self.app_id = app_id
        self.connections: list[SocketConnection] = []
        self.acks: list[SocketAck] = []
        self.pushed: list[dict[str, Any]] = []
        self._tickets: set[str] = set()
        self._changes = changes
        self._envelope_ids = itertools.count(1)

    # --- wiring used by SlackApiStandin -------------------------------------------------------

    def issue_ticket(self) -> str:
        ticket = secrets.token_hex(8)
        self._tickets.add(ticket)
        return ticket

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            # Slack refuses URLs it did not issue (and each ticket is single-use).
            return web.Response(status=401, text="invalid ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = SocketConnection(ticket=ticket, ws=ws)
        self.connections.append(conn)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": sum(c.open for c in self.connections),
                "debug_info": {
                    "host": "applink-standin",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self.app_id},
            }
        )
        self._changes.notify()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                conn.received.append(frame)
                if isinstance(frame, dict) and "envelope_id" in frame:
                    payload = frame.get("payload")
                    self.acks.append(
                        SocketAck(
                            envelope_id=str(frame["envelope_id"]),
                            payload=payload if isinstance(payload, dict) else None,
                            raw=frame,
                            at=time.monotonic(),
                        )
                    )
                self._changes.notify()
        finally:
            self._changes.notify()
        return ws

    async def close(self) -> None:
        for conn in self.connections:
            if conn.open:
                await conn.ws.close()

    # --- test-facing API ----------------------------------------------------------------------

    @property
    def open_connections(self) -> list[SocketConnection]:
        return [c for c in self.connections if c.open]

    async def wait_connected(self, count: int = 1, timeout: float = 5.0) -> SocketConnection:
        """Wait until `count` connections have been opened in total and one is open now."""
        await self._changes.until(
            lambda: len(self.connections) >= count and bool(self.open_connections),
            timeout,
            lambda: f"{count} socket connection(s) (opened so far: {len(self.connections)})",
        )
        return self.open_connections[-1]

    async def push(
        self,
        type: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool | None = None,
        envelope_id: str | None = None,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
    ) -> str:
        """Send one envelope to the newest open connection; returns its envelope_id."""
        conns = self.open_connections
        if not conns:
            raise RuntimeError("no open Socket Mode connection to push to")
        envelope_id = envelope_id or f"env-{next(self._envelope_ids):06d}-{secrets.token_hex(4)}"
        if accepts_response_payload is None:
            # Slack lets slash commands and interactivity answer through the ack; events cannot.
            accepts_response_payload = type != "events_api"
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if type == "events_api":
            envelope["retry_attempt"] = retry_attempt or 0
            envelope["retry_reason"] = retry_reason or ""
        await conns[-1].ws.send_json(envelope)
        self.pushed.append(envelope)
        return envelope_id

    async def push_event(
        self,
        event_callback_body: dict[str, Any],
        *,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
    ) -> str:
        return await self.push(
            "events_api",
            event_callback_body,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
        )

    async def push_slash_command(self, fields: dict[str, str]) -> str:
        """`fields` are the slash command's form fields (see slack_signing.slash_command_fields)."""
        return await self.push("slash_commands", fields)

    async def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the client to reconnect, as Slack does every few hours."""
        conns = self.open_connections
        if not conns:
            raise RuntimeError("no open Socket Mode connection")
        await conns[-1].ws.send_json(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-standin"}}
        )

    def ack_for(self, envelope_id: str) -> SocketAck | None:
        return next((a for a in self.acks if a.envelope_id == envelope_id), None)

    async def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> SocketAck:
        await self._changes.until(
            lambda: self.ack_for(envelope_id) is not None,
            timeout,
            lambda: f"ack of envelope {envelope_id} (acked: {[a.envelope_id for a in self.acks]})",
        )
        ack = self.ack_for(envelope_id)
        assert ack is not None
        return ack
