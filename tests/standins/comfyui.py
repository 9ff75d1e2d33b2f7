"""A stand-in for a ComfyUI server's documented API, drawing real PNGs (seeded noise).

Endpoints and message shapes as ComfyUI's server and its script_examples use them:
`POST /prompt` {"prompt": graph, "client_id"} -> {"prompt_id", "number", "node_errors"} (400
with {"error", "node_errors"} for a graph it refuses); `/ws?clientId=` sends `status`, then
per prompt `executing` {node}, `progress` {value, max}, a binary preview frame, `executed`
{node, output: {images}}, and `executing` {node: null} when done (or `execution_error`);
`GET /history/{id}` -> {id: {"outputs": {node: {"images": [{filename, subfolder, type}]}},
"status": ...}}; `GET /view?filename=&subfolder=&type=` -> the PNG; `POST /queue`
{"delete": [...]}; `GET /system_stats`.
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web
from PIL import Image
from PIL.PngImagePlugin import PngInfo

__all__ = ["ComfyStandin"]


@dataclass
class ComfyStandin:
    checkpoints: tuple[str, ...] = ("tiny.safetensors",)
    fail_with: str = ""  # an execution_error message for every prompt
    hold: asyncio.Event = field(default_factory=asyncio.Event)  # set: prompts may run
    queued: list[dict[str, Any]] = field(default_factory=list)  # graphs, as posted
    deleted: list[str] = field(default_factory=list)
    progress_sent: int = 0
    url: str = ""

    def __post_init__(self) -> None:
        self.hold.set()
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._history: dict[str, Any] = {}
        self._files: dict[tuple[str, str, str], bytes] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> ComfyStandin:
        app = web.Application()
        app.router.add_post("/prompt", self._prompt)
        app.router.add_get("/ws", self._ws)
        app.router.add_get("/history/{pid}", self._history_of)
        app.router.add_get("/view", self._view)
        app.router.add_post("/queue", self._queue)
        app.router.add_get("/system_stats", self._stats)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await self._runner.cleanup()

    # -- endpoints -------------------------------------------------------------------------

    async def _prompt(self, request: web.Request) -> web.Response:
        body = await request.json()
        graph = body["prompt"]
        problems = self._validate(graph)
        if problems:
            error = {"type": "prompt_outputs_failed_validation", "message": "; ".join(problems)}
            return web.json_response({"error": error, "node_errors": {}}, status=400)
        pid = str(uuid.uuid4())
        self.queued.append(graph)
        task = asyncio.create_task(self._execute(pid, graph, body.get("client_id", "")))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.json_response({"prompt_id": pid, "number": len(self.queued), "node_errors": {}})

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        client = request.query.get("clientId") or uuid.uuid4().hex
        self._sockets[client] = ws
        status = {"status": {"exec_info": {"queue_remaining": 0}}, "sid": client}
        await ws.send_json({"type": "status", "data": status})
        async for message in ws:
            if message.type == WSMsgType.ERROR:
                break
        self._sockets.pop(client, None)
        return ws

    async def _history_of(self, request: web.Request) -> web.Response:
        pid = request.match_info["pid"]
        return web.json_response({pid: self._history[pid]} if pid in self._history else {})

    async def _view(self, request: web.Request) -> web.Response:
        q = request.query
        key = (q.get("filename", ""), q.get("subfolder", ""), q.get("type", ""))
        if key not in self._files:
            return web.Response(status=404)
        return web.Response(body=self._files[key], content_type="image/png")

    async def _queue(self, request: web.Request) -> web.Response:
        self.deleted += (await request.json()).get("delete", [])
        return web.json_response({})

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response({"system": {"os": "posix"}, "devices": []})

    # -- the "execution" --------------------------------------------------------------------

    def _validate(self, graph: Any) -> list[str]:
        if not isinstance(graph, dict):
            return ["prompt is not a graph"]
        problems = []
        for nid, node in graph.items():
            inputs, kind = node.get("inputs", {}), node.get("class_type")
            if kind == "CheckpointLoaderSimple" and inputs.get("ckpt_name") not in self.checkpoints:
                problems.append(f"node {nid}: ckpt_name not in {list(self.checkpoints)}")
            if kind == "KSampler":
                for key in ("seed", "steps"):
                    if not isinstance(inputs.get(key), int):
                        problems.append(f"node {nid}: {key} must be an integer")
            if kind == "EmptyLatentImage":
                for key in ("width", "height"):
                    if not isinstance(inputs.get(key), int):
                        problems.append(f"node {nid}: {key} must be an integer")
        return problems

    async def _send(self, client: str, kind: str, data: dict[str, Any]) -> None:
        ws = self._sockets.get(client)
        if ws is not None and not ws.closed:
            await ws.send_json({"type": kind, "data": data})

    async def _execute(self, pid: str, graph: dict[str, Any], client: str) -> None:
        await self.hold.wait()
        if pid in self.deleted:
            return
        sampler = next(n for n in graph.values() if n["class_type"] == "KSampler")["inputs"]
        latent = next(n for n in graph.values() if n["class_type"] == "EmptyLatentImage")
        await self._send(client, "execution_start", {"prompt_id": pid})
        await self._send(client, "executing", {"node": "3", "prompt_id": pid})
        if self.fail_with:
            error = {"prompt_id": pid, "node_id": "3", "exception_message": self.fail_with}
            await self._send(client, "execution_error", error)
            return
        for step in range(1, sampler["steps"] + 1):
            await self._send(
                client, "progress", {"value": step, "max": sampler["steps"], "prompt_id": pid}
            )
            self.progress_sent += 1
        ws = self._sockets.get(client)
        if ws is not None and not ws.closed:
            await ws.send_bytes(b"\x00\x00\x00\x01preview")  # a preview frame: binary
        size = (latent["inputs"]["width"], latent["inputs"]["height"])
        name = f"muse_{len(self._files):05d}_.png"
        self._files[(name, "", "output")] = _noise_png(size, sampler["seed"], graph)
        images = [{"filename": name, "subfolder": "", "type": "output"}]
        self._history[pid] = {
            "prompt": [len(self._history), pid, graph, {}, ["9"]],
            "outputs": {"9": {"images": images}},
            "status": {"status_str": "success", "completed": True, "messages": []},
        }
        await self._send(
            client, "executed", {"node": "9", "output": {"images": images}, "prompt_id": pid}
        )
        await self._send(client, "executing", {"node": None, "prompt_id": pid})


def _noise_png(size: tuple[int, int], seed: int, graph: dict[str, Any]) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    info = PngInfo()
    info.add_text("prompt", json.dumps(graph))  # ComfyUI stores its graph in its PNGs
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG", pnginfo=info)
    return out.getvalue()
