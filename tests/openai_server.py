"""A real OpenAI-compatible server for the tests (`transformers serve` on the tiny model),
and a small aiohttp proxy in front of it that injects the faults a remote engine has.

`transformers serve DIR` preloads the model from its folder (FORCE_MODEL), offline; the
model's name on the server is then that folder's path, as `/v1/models` lists it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import ClientSession, web

__all__ = ["FaultProxy", "serve_tiny"]

START_SECONDS = 50.0  # loading torch + the tiny model on a busy CPU


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve_tiny(model_dir: Path, log_path: Path) -> Iterator[str]:
    """Run `transformers serve` on `model_dir`; yields its API root (".../v1")."""
    port = _free_port()
    cli = Path(sys.executable).with_name("transformers")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    args = [str(cli), "serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port)]
    args += ["--device", "cpu", "--dtype", "float32", "--log-level", "warning"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert proc.poll() is None, f"transformers serve exited: {log_path.read_text()[-2000:]}"
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"no server in time: {log_path.read_text()[-2000:]}"
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@dataclass
class FaultProxy:
    """Forwards /v1/* to `upstream`, except for the faults queued in `faults` (one per
    chat request, in order): ("status", code, retry_after), ("drop_after", n_chunks),
    ("stall", seconds) before the first byte."""

    upstream: str
    faults: list[tuple[object, ...]] = field(default_factory=list)
    chat_requests: int = 0
    open_now: int = 0  # chat requests being answered right now
    most_open: int = 0
    url: str = ""
    client_gone: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> FaultProxy:
        self._session = ClientSession()
        app = web.Application()
        app.router.add_route("*", "/v1/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()
        await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        fault: tuple[object, ...] = ()
        if not request.path.endswith("/chat/completions"):
            return await self._relay(request, body, fault)
        self.chat_requests += 1
        fault = self.faults.pop(0) if self.faults else ()
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            return await self._relay(request, body, fault)
        except (ConnectionResetError, asyncio.CancelledError):
            self.client_gone.set()  # Muse hung up (which is what stops a server generating)
            raise
        finally:
            self.open_now -= 1

    async def _relay(
        self, request: web.Request, body: bytes, fault: tuple[object, ...]
    ) -> web.StreamResponse:
        if fault and fault[0] == "status":
            headers = {"Retry-After": str(fault[2])} if fault[2] is not None else {}
            error = {"error": {"message": "injected", "type": "server_error"}}
            return web.json_response(error, status=int(fault[1]), headers=headers)  # type: ignore[call-overload]
        if fault and fault[0] == "stall":
            await asyncio.sleep(float(fault[1]))  # type: ignore[arg-type]
        upstream = f"{self.upstream}{request.path.removeprefix('/v1')}"
        headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
        async with self._session.request(
            request.method, upstream, data=body, headers=headers
        ) as answer:
            out = web.StreamResponse(status=answer.status)
            out.content_type = answer.content_type
            await out.prepare(request)
            events = 0
            async for line in _lines(answer):
                await out.write(line)
                events += line.startswith(b"data:")
                if (
                    fault
                    and fault[0] == "drop_after"
                    and not line.strip()  # an event ends at its blank line
                    and events >= int(fault[1])  # type: ignore[call-overload]
                ):
                    request.transport.close()  # type: ignore[union-attr]  # mid-reply
                    return out
            await out.write_eof()
            return out


async def _lines(answer: object) -> AsyncIterator[bytes]:
    async for line in answer.content:  # type: ignore[attr-defined]
        yield line

