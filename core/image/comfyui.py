"""The image backend for a separate image box running ComfyUI, through its HTTP/WebSocket API.

Per picture: the text-to-image workflow template (ComfyUI's API format) is filled in with
the request's values and queued with `POST /prompt` (answer: `{"prompt_id": ...}`); the
`/ws?clientId=...` socket reports `progress` and, when the prompt is done, `executing` with
`node: null` (or `execution_error`); `GET /history/{prompt_id}` names the output images
(`filename`, `subfolder`, `type`) and `GET /view?...` returns each PNG. The picture is then
written again with Muse's own metadata, so a ComfyUI picture carries the same `parameters`
and keys as a local one and remakes the same way.

One prompt per picture, each with its own seed (s+i): a ComfyUI batch draws its pictures
from one noise seed, and Muse promises that any single picture can be remade alone from
the seed in its caption. ComfyUI queues and batches on its side. No ComfyUI client library
is a maintained dependency, so the five calls are made here with aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import io
import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from core.errors import ModelUnavailable, UserError
from core.image.engine import GeneratedImage, ImageResult, encode_png
from core.image.options import MAX_SEED, ImageSettings, ImagineOptions, validate_imagine
from core.runtime import metrics

__all__ = ["DEFAULT_WORKFLOW", "ComfyUIEngine", "fill_workflow"]

log = logging.getLogger(__name__)
READINESS_SECONDS = 3.0

# ComfyUI's stock text-to-image graph, in its API format, with Muse's placeholders.
DEFAULT_WORKFLOW: dict[str, Any] = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "{{model}}"}},
    "5": {
        "class_type": "EmptyLatentImage",
        "inputs": {"width": "{{width}}", "height": "{{height}}", "batch_size": 1},
    },
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{negative}}", "clip": ["4", 1]}},
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": "{{seed}}",
            "steps": "{{steps}}",
            "cfg": "{{guidance}}",
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1.0,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
    },
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "muse", "images": ["8", 0]}},
}


def fill_workflow(template: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The template with each "{{name}}" replaced: a string that is only a placeholder takes
    the value as is (a number stays a number); inside longer text it is put in as text."""

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: fill(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fill(v) for v in node]
        if isinstance(node, str):
            whole = node.strip()
            if whole.startswith("{{") and whole.endswith("}}") and whole[2:-2] in values:
                return values[whole[2:-2]]
            for name, value in values.items():
                node = node.replace("{{" + name + "}}", str(value))
        return node

    return fill(copy.deepcopy(template))


def load_workflow(path: str) -> dict[str, Any]:
    """`[image] comfyui_workflow`, or Muse's own; a bad file is named with what is wrong."""
    if not path:
        return DEFAULT_WORKFLOW
    try:
        workflow = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(
            f"[image] comfyui_workflow = {path!r}: cannot read it: {exc}"
        ) from None
    if not isinstance(workflow, dict) or not all(
        isinstance(n, dict) and "class_type" in n for n in workflow.values()
    ):
        raise ModelUnavailable(
            f"[image] comfyui_workflow = {path!r}: not a workflow in ComfyUI's API format "
            "(export it with 'Save (API Format)')"
        )
    if "{{prompt}}" not in json.dumps(workflow):
        raise ModelUnavailable(
            f"[image] comfyui_workflow = {path!r}: has no {{{{prompt}}}} to fill in"
        )
    return workflow


class ComfyUIEngine:
    """The image engine interface (`generate`, `load`, `close`, `readiness`) over ComfyUI."""

    def __init__(self, settings: ImageSettings, arbiter: object = None) -> None:
        self.settings = settings
        self.url = settings.comfyui_url.rstrip("/")
        self.model_name = self.model_label = settings.model
        self.device = self.url  # what /metrics' model-loaded line names
        self.dtype = "remote"
        self.has_safety_checker = False  # ComfyUI's stock graph has none
        self.workflow: dict[str, Any] = DEFAULT_WORKFLOW
        self.sampler = "ComfyUI"
        self.progress: dict[str, tuple[int, int]] = {}  # prompt id -> (step, of steps)
        self._session: aiohttp.ClientSession | None = None

    async def load(self, model: str | None = None) -> None:
        if model:
            self.model_name = self.model_label = model
        self.workflow = load_workflow(self.settings.comfyui_workflow)
        samplers = [
            n["inputs"].get("sampler_name")
            for n in self.workflow.values()
            if n.get("class_type", "").startswith("KSampler")
        ]
        self.sampler = next((s for s in samplers if isinstance(s, str)), "ComfyUI")
        self._session = aiohttp.ClientSession()
        if (status := await self.readiness()) != "ok":
            log.warning("image: the ComfyUI server at %s: %s", self.url, status)

    @property
    def queued_images(self) -> int:
        return len(self.progress)

    async def readiness(self) -> str:
        """"ok" when ComfyUI answers /system_stats (before load() too: `muse doctor`)."""
        timeout = aiohttp.ClientTimeout(total=READINESS_SECONDS)
        try:
            async with contextlib.AsyncExitStack() as stack:
                session = self._session or await stack.enter_async_context(
                    aiohttp.ClientSession()
                )
                async with session.get(f"{self.url}/system_stats", timeout=timeout) as answer:
                    return "ok" if answer.status == 200 else f"unreachable: HTTP {answer.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"unreachable: {type(exc).__name__} ({self.url})"
        return "unreachable"  # not reached: the block returns or raises

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def generate(self, options: ImagineOptions, reference: Any = None) -> ImageResult:
        if self._session is None:
            raise RuntimeError("ComfyUIEngine.load() has not been awaited")
        if reference is not None:
            # Image-to-image needs an upload (/upload/image) and another graph: not built yet.
            raise UserError(
                "Drawing from a reference picture is not available with my image server "
                "(ComfyUI) yet; ask without one."
            )
        options = validate_imagine(options, self.settings)
        assert options.seed is not None and options.count is not None
        seeds = [(options.seed + i) % (MAX_SEED + 1) for i in range(options.count)]
        began = time.monotonic()
        try:
            async with asyncio.timeout(self.settings.comfyui_timeout_seconds):
                pngs = await self._draw(options, seeds)
        except TimeoutError:
            raise UserError(
                f"The image server did not finish within "
                f"{self.settings.comfyui_timeout_seconds:g} s; please try again later."
            ) from None
        except aiohttp.ClientConnectionError as exc:
            log.warning("image: cannot reach ComfyUI at %s: %r", self.url, exc)
            raise UserError(
                "I can't reach my image server right now; please try again in a minute."
            ) from exc
        metrics.image_call(time.monotonic() - began, len(pngs))
        images = []
        for i, (seed, png) in enumerate(zip(seeds, pngs, strict=True)):
            picture = await asyncio.to_thread(self._restamp, png, options, seed)
            images.append(GeneratedImage(i, seed, picture))
        return ImageResult(options, self.model_label, tuple(images))

    async def _draw(self, options: ImagineOptions, seeds: list[int]) -> list[bytes]:
        assert self._session is not None
        client = uuid.uuid4().hex
        async with self._session.ws_connect(f"{self.url}/ws?clientId={client}") as ws:
            ids = [await self._queue(options, seed, client) for seed in seeds]
            try:
                await self._follow(ws, set(ids))
            except BaseException:
                await self._drop(ids)  # cancelled or failed: free ComfyUI's queue
                raise
            finally:
                for pid in ids:
                    self.progress.pop(pid, None)
        return [await self._picture(pid) for pid in ids]

    async def _queue(self, options: ImagineOptions, seed: int, client: str) -> str:
        assert self._session is not None
        values = {
            "prompt": options.prompt,
            "negative": options.negative,
            "seed": seed,
            "steps": options.steps,
            "width": options.width,
            "height": options.height,
            "guidance": options.guidance,
            "model": self.model_name,
        }
        body = {"prompt": fill_workflow(self.workflow, values), "client_id": client}
        async with self._session.post(f"{self.url}/prompt", json=body) as answer:
            data = await answer.json(content_type=None)
        if answer.status != 200 or "prompt_id" not in data:
            # A graph ComfyUI refuses (unknown checkpoint, bad node) is the operator's to fix.
            raise RuntimeError(f"ComfyUI refused the workflow (HTTP {answer.status}): {data}")
        self.progress[data["prompt_id"]] = (0, options.steps or 0)
        return str(data["prompt_id"])

    async def _follow(self, ws: aiohttp.ClientWebSocketResponse, waiting: set[str]) -> None:
        """Read the socket until every prompt in `waiting` has finished."""
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue  # binary frames are previews
            event = json.loads(message.data)
            data = event.get("data") or {}
            pid = data.get("prompt_id")
            if pid not in waiting:
                continue
            kind = event.get("type")
            if kind == "progress":
                self.progress[pid] = (int(data.get("value", 0)), int(data.get("max", 0)))
            elif kind == "execution_error":
                reason = data.get("exception_message", "unknown error")
                raise RuntimeError(f"ComfyUI failed on node {data.get('node_id')}: {reason}")
            elif kind == "executing" and data.get("node") is None:
                waiting.discard(pid)
                if not waiting:
                    return
        # The socket closed early (a restart): the history tells what finished.
        for pid in list(waiting):
            await self._finished(pid)

    async def _finished(self, pid: str) -> None:
        """Poll `/history/{pid}` until it lists the prompt (the caller's timeout bounds it)."""
        while True:
            if await self._history(pid):
                return
            await asyncio.sleep(0.5)

    async def _history(self, pid: str) -> dict[str, Any]:
        assert self._session is not None
        async with self._session.get(f"{self.url}/history/{pid}") as answer:
            data = await answer.json(content_type=None)
        return dict(data.get(pid) or {})

    async def _picture(self, pid: str) -> bytes:
        assert self._session is not None
        outputs = (await self._history(pid)).get("outputs", {})
        found = [im for node in outputs.values() for im in node.get("images", [])]
        found.sort(key=lambda im: im.get("type") != "output")  # saved pictures first
        if not found:
            raise RuntimeError(f"ComfyUI prompt {pid} finished without an image output")
        image = found[0]
        params = {k: image.get(k, "") for k in ("filename", "subfolder", "type")}
        async with self._session.get(f"{self.url}/view", params=params) as answer:
            answer.raise_for_status()
            return await answer.read()

    async def _drop(self, ids: list[str]) -> None:
        if self._session is None:
            return
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with asyncio.timeout(READINESS_SECONDS):
                async with self._session.post(f"{self.url}/queue", json={"delete": ids}):
                    pass

    def _restamp(self, png: bytes, options: ImagineOptions, seed: int) -> bytes:
        with Image.open(io.BytesIO(png)) as picture:
            return encode_png(picture.convert("RGB"), options, seed, self.sampler, self.model_label)
