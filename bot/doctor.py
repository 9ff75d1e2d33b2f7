"""`muse doctor`: check, in order, what Muse needs before it can serve, one line per check and
the fix under each that fails; exit status 1 if any failed.

  python, torch and the devices the config asks for; free GPU memory against the models'
  weights (CUDA only); the config; the database (writable, its schema version); the models
  (a local folder that exists, or a hub id in the cache); each configured platform's tokens
  (Discord `GET users/@me`, Slack `auth.test`, through the configured `api_url`) and the
  intents or scopes the platform reports.

It changes nothing: the database is opened read-write only to take and drop a write lock,
never migrated; nothing is downloaded.
"""

from __future__ import annotations

import asyncio
import os
import platform
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

import aiohttp

from bot.config import Config, ConfigError, load_config

__all__ = ["Check", "doctor", "main"]

Status = Literal["ok", "warn", "skip", "FAIL"]
HTTP_TIMEOUT_SECONDS = 10.0
# Discord application flags: the Message Content intent is on (verified bots: the first;
# unverified ones, under 100 servers: the second).
GATEWAY_MESSAGE_CONTENT = 1 << 18
GATEWAY_MESSAGE_CONTENT_LIMITED = 1 << 19
# The bot scopes of the app manifest in README.md (Slack): what Muse's listeners and calls use.
SLACK_SCOPES = (
    "app_mentions:read",
    "channels:history",
    "groups:history",
    "im:history",
    "mpim:history",
    "channels:read",
    "groups:read",
    "im:read",
    "mpim:read",
    "chat:write",
    "commands",
    "files:read",
    "files:write",
    "reactions:read",
    "users:read",
)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def lines(self) -> list[str]:
        out = [f"{self.status:<4}  {self.name:<16} {self.detail}"]
        if self.fix:
            out.append(f"{'':<4}  {'':<16} fix: {self.fix}")
        return out


def _gb(size: int) -> str:
    return f"{size / 1e9:.2f} GB" if size >= 1e8 else f"{size / 1e6:.1f} MB"


# -- python, torch, devices ----------------------------------------------------------------


def check_python() -> Check:
    # pyproject's requires-python keeps anything older than 3.11 from installing Muse at all.
    return Check("python", "ok", f"{platform.python_version()} ({sys.executable})")


def _devices(config: Config | None) -> dict[str, str]:
    """Config key -> the device it asks for."""
    if config is None:
        return {}
    wanted = {"[text] device": config.text.device}
    if config.image.enabled:
        wanted["[image] device"] = config.image.device
    return wanted


def check_torch(config: Config | None) -> Check:
    try:
        import torch
    except ImportError as exc:
        return Check("torch", "FAIL", f"cannot import torch: {exc}", "make install")
    from core.runtime.device import pick_device

    cuda = torch.cuda.is_available()
    built = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build"
    if cuda:
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        found = f"{torch.__version__} ({built}), CUDA devices: {names}"
    else:
        found = f"{torch.__version__} ({built}), CUDA not available"
    chosen, problems = [], []
    for key, wanted in _devices(config).items():
        try:
            device = pick_device(wanted)
        except RuntimeError as exc:
            problems.append(f"{key} = {wanted!r}: {exc}")
            continue
        if device.type == "cuda":
            index = device.index or 0
            if not cuda:
                problems.append(f"{key} = {wanted!r}, but CUDA is not available")
                continue
            if index >= torch.cuda.device_count():
                problems.append(f"{key} = {wanted!r}: there are {torch.cuda.device_count()}")
                continue
        if device.type == "mps" and not torch.backends.mps.is_available():
            problems.append(f"{key} = {wanted!r}, but MPS is not available")
            continue
        chosen.append(f"{key} {wanted} -> {device}")
    if problems:
        return Check(
            "torch",
            "FAIL",
            f"{found}; " + "; ".join(problems),
            'set the device to "auto" or "cpu", or install a torch build for that device '
            "(e.g. pip install torch --index-url https://download.pytorch.org/whl/cu128)",
        )
    return Check("torch", "ok", "; ".join([found, *chosen]))


# -- models ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSource:
    key: str  # "[text] model"
    name: str
    marker: str  # the file a loadable folder has
    example: str


def _sources(config: Config) -> list[ModelSource]:
    """The models Muse loads itself (a server's model is the server's: check_servers)."""
    found = []
    if config.text.backend == "local":
        found.append(
            ModelSource(
                "[text] model", config.text.model, "config.json", "Qwen/Qwen2.5-1.5B-Instruct"
            )
        )
    if config.image.enabled and config.image.backend == "local":
        found.append(
            ModelSource(
                "[image] model", config.image.model, "model_index.json", "stabilityai/sd-turbo"
            )
        )
    return found


def _weights_size(folder: Path) -> int:
    """Bytes of weights in a model folder (safetensors if any, else .bin/.pt), subfolders too."""
    for patterns in (("*.safetensors",), ("*.bin", "*.pt", "*.pth")):
        files = [f for pattern in patterns for f in folder.rglob(pattern) if f.is_file()]
        if files:
            return sum(f.stat().st_size for f in files)
    return 0


def locate(source: ModelSource) -> tuple[Path | None, str]:
    """The model's folder (a local one, or its hub cache snapshot), or None and why not."""
    from core.runtime.models import looks_like_folder

    if looks_like_folder(source.name):
        path = Path(source.name).expanduser()
        if not path.exists():
            return None, f"folder '{source.name}' does not exist"
        if not path.is_dir():
            return None, f"'{source.name}' is a file, not a model folder"
        if not (path / source.marker).is_file():
            return None, f"folder '{source.name}' has no {source.marker}"
        return path, ""
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(source.name, source.marker)
    if isinstance(cached, str):
        return Path(cached).parent, ""
    return None, "not in the hub cache"


def _hub_lookup(name: str) -> tuple[str, str] | None:
    """None if the hub has `name`; else (why not, what to do first)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        HfApi().model_info(name, timeout=HTTP_TIMEOUT_SECONDS)
    except GatedRepoError:
        return "gated on the hub", "accept its terms on the hub and log in (hf auth login)"
    except RepositoryNotFoundError:
        return "no such model on the hub", "check the id's spelling"
    except Exception as exc:
        why = f"cannot reach the hub ({type(exc).__name__})"
        return why, "check the network (the first start downloads the model)"
    return None


def check_model(source: ModelSource) -> Check:
    name = source.key.replace("[", "").replace("]", "")  # "[text] model" -> "text model"
    folder, why = locate(source)
    if folder is not None:
        where = "folder" if str(folder) == str(Path(source.name).expanduser()) else "hub cache"
        return Check(
            name, "ok", f"{source.name} ({where}, {_gb(_weights_size(folder))} of weights)"
        )
    fix = (
        f"point {source.key} at a folder saved with save_pretrained, or at a hub id such as "
        f"{source.example}"
    )
    if why != "not in the hub cache":
        return Check(name, "FAIL", f"{source.key}: {why}", fix)
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return Check(
            name,
            "FAIL",
            f"{source.name}: not in the hub cache, and HF_HUB_OFFLINE is set",
            f"download it once with the network on (hf download {source.name}), or {fix}",
        )
    problem = _hub_lookup(source.name)
    if problem is not None:
        why, first = problem
        return Check(
            name, "FAIL", f"{source.name}: not in the hub cache; {why}", f"{first}, or {fix}"
        )
    return Check(name, "warn", f"{source.name}: on the hub, downloaded on the first start")


def check_gpu_memory(config: Config | None) -> Check:
    name = "gpu memory"
    if config is None:
        return Check(name, "skip", "the config is invalid")
    import torch

    from core.runtime.device import pick_device

    wanted = {"[text] model": config.text.device, "[image] model": config.image.device}
    need: dict[int, int] = {}
    unknown = []
    for source in _sources(config):
        try:
            device = pick_device(wanted[source.key])
        except RuntimeError:
            continue  # the torch check reports it
        if device.type != "cuda" or not torch.cuda.is_available():
            continue
        folder, _ = locate(source)
        if folder is None:
            unknown.append(source.name)
            continue
        index = device.index or 0
        need[index] = need.get(index, 0) + _weights_size(folder)
    if not need and not unknown:
        return Check(name, "skip", "no model runs on a CUDA device")
    parts, short = [], []
    for index, size in sorted(need.items()):
        if index >= torch.cuda.device_count():
            continue
        free, total = torch.cuda.mem_get_info(index)
        parts.append(f"cuda:{index} {_gb(free)} free of {_gb(total)}, models {_gb(size)}")
        if size > free:
            short.append(f"cuda:{index}")
    if unknown:
        parts.append("size unknown until downloaded: " + ", ".join(unknown))
    if short:
        return Check(
            name,
            "FAIL",
            "; ".join(parts),
            "free the GPU (nvidia-smi lists who holds it), pick smaller models, or put the "
            'image model on another device ([image] device = "cuda:1" or "cpu")',
        )
    tight = any(size > 0.8 * torch.cuda.mem_get_info(i)[0] for i, size in need.items())
    return Check(name, "warn" if tight or unknown else "ok", "; ".join(parts))


# -- database ------------------------------------------------------------------------------


def check_database(path_text: str) -> Check:
    from core.memory.store import MIGRATIONS

    name, current = "database", len(MIGRATIONS)
    path = Path(path_text).expanduser()
    if not path.exists():
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if os.access(parent, os.W_OK | os.X_OK):
            return Check(
                name, "ok", f"{path_text}: new, created at the first start (schema {current})"
            )
        return Check(
            name,
            "FAIL",
            f"{path_text}: cannot be created ({parent} is not writable)",
            "make that folder writable by the user running Muse, or set [muse] db (or --db)",
        )
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=5)
    except sqlite3.Error as exc:
        return Check(name, "FAIL", f"{path_text}: cannot open it for writing ({exc})", _FIX_DB)
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        conn.execute("BEGIN IMMEDIATE")  # takes the write lock: proves writes would work
        conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        return Check(name, "FAIL", f"{path_text}: not writable ({exc})", _FIX_DB)
    finally:
        conn.close()
    if version > current:
        return Check(
            name,
            "FAIL",
            f"{path_text}: schema version {version}, newer than this Muse's {current}",
            "upgrade Muse, or use another database ([muse] db or --db)",
        )
    state = "current" if version == current else f"migrated to {current} at the next start"
    return Check(name, "ok", f"{path_text}: writable, schema version {version} ({state})")


_FIX_DB = (
    "make the file and its folder writable by the user running Muse (SQLite writes a -wal "
    "file next to it), or set [muse] db (or --db)"
)


# -- platforms -----------------------------------------------------------------------------


async def _call(
    session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any, dict[str, str]]:
    async with session.request(method, url, **kwargs) as response:
        try:
            body = await response.json(content_type=None)
        except ValueError:
            body = None
        return response.status, body, dict(response.headers)


def _unreachable(what: str, url: str, exc: BaseException, key: str) -> Check:
    reason = str(exc) or type(exc).__name__
    return Check(what, "FAIL", f"cannot reach {url}: {reason}", f"check the network, or {key}")


async def check_discord(config: Config, session: aiohttp.ClientSession) -> list[Check]:
    from adapters.discord.adapter import FIX_TOKEN  # the fix `muse run` prints, word for word

    settings = config.discord
    base = settings.api_url.rstrip("/")
    headers = {"Authorization": f"Bot {settings.token.get_secret_value().strip()}"}
    try:
        status, body, _ = await _call(session, "GET", f"{base}/users/@me", headers=headers)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return [_unreachable("discord", base, exc, "[discord] api_url")]
    if status == 401:
        cause = "Discord rejected the token (401 Unauthorized)"
        return [Check("discord", "FAIL", cause, FIX_TOKEN)]
    if status != 200 or not isinstance(body, dict):
        return [Check("discord", "FAIL", f"GET users/@me answered {status}", FIX_TOKEN)]
    found = [
        Check("discord", "ok", f"token valid: bot {body.get('username')} (id {body.get('id')})")
    ]
    if not settings.message_content_intent:
        found.append(
            Check(
                "discord intents",
                "ok",
                "Message Content not asked for (message_content_intent = false)",
            )
        )
        return found
    try:
        status, app, _ = await _call(session, "GET", f"{base}/applications/@me", headers=headers)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return [*found, _unreachable("discord intents", base, exc, "[discord] api_url")]
    if status != 200 or not isinstance(app, dict) or "flags" not in app:
        found.append(Check("discord intents", "skip", f"GET applications/@me answered {status}"))
    elif int(app["flags"]) & (GATEWAY_MESSAGE_CONTENT | GATEWAY_MESSAGE_CONTENT_LIMITED):
        found.append(Check("discord intents", "ok", "Message Content intent enabled"))
    else:
        found.append(
            Check(
                "discord intents",
                "FAIL",
                "the Message Content intent is not enabled for this application "
                "(Discord would close the gateway with 4014)",
                "enable Message Content Intent on the Developer Portal's Bot tab, or set "
                "[discord] message_content_intent = false",
            )
        )
    return found


async def check_slack(config: Config, session: aiohttp.ClientSession) -> list[Check]:
    from adapters.slack.adapter import FIX_APP, FIX_BOT  # as `muse run` says them

    settings = config.slack
    base = settings.api_url if settings.api_url.endswith("/") else settings.api_url + "/"
    bot = {"Authorization": f"Bearer {settings.bot_token.get_secret_value().strip()}"}
    try:
        status, body, headers = await _call(session, "POST", f"{base}auth.test", headers=bot)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return [_unreachable("slack", base, exc, "[slack] api_url")]
    if not isinstance(body, dict) or not body.get("ok"):
        error = body.get("error") if isinstance(body, dict) else f"HTTP {status}"
        return [Check("slack", "FAIL", f"Slack refused the bot token ({error})", FIX_BOT)]
    found = [
        Check(
            "slack",
            "ok",
            f"bot token valid: {body.get('user')} in {body.get('team')} ({body.get('team_id')})",
        )
    ]
    scopes_header = {k.lower(): v for k, v in headers.items()}.get("x-oauth-scopes")
    if scopes_header is None:
        found.append(Check("slack scopes", "skip", "Slack did not report the token's scopes"))
    else:
        granted = {s.strip() for s in scopes_header.split(",") if s.strip()}
        missing = [s for s in SLACK_SCOPES if s not in granted]
        if missing:
            found.append(
                Check(
                    "slack scopes",
                    "FAIL",
                    "missing bot scopes: " + ", ".join(missing),
                    "add them under OAuth & Permissions (or use the manifest in README.md), "
                    "then reinstall the app",
                )
            )
        else:
            found.append(Check("slack scopes", "ok", f"all {len(SLACK_SCOPES)} bot scopes granted"))
    if settings.mode == "http":
        found.append(Check("slack app token", "skip", "http mode: no app-level token needed"))
        return found
    app = {"Authorization": f"Bearer {settings.app_token.get_secret_value().strip()}"}
    try:
        status, body, _ = await _call(session, "POST", f"{base}apps.connections.open", headers=app)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return [*found, _unreachable("slack app token", base, exc, "[slack] api_url")]
    if isinstance(body, dict) and body.get("ok"):
        found.append(Check("slack app token", "ok", "app-level token valid (Socket Mode)"))
    else:
        error = body.get("error") if isinstance(body, dict) else f"HTTP {status}"
        found.append(
            Check(
                "slack app token",
                "FAIL",
                f"Slack refused the app-level token ({error})",
                FIX_APP,
            )
        )
    return found


async def check_platforms(config: Config) -> list[Check]:
    checkers: list[Callable[[Config, aiohttp.ClientSession], Any]] = []
    if config.discord.token.get_secret_value().strip():
        checkers.append(check_discord)
    if config.slack.bot_token.get_secret_value().strip():
        checkers.append(check_slack)
    if not checkers:
        return [Check("platforms", "skip", "no platform tokens configured: the terminal chat")]
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        found: list[Check] = []
        for checker in checkers:
            found += await checker(config, session)
        return found


async def check_servers(config: Config) -> list[Check]:
    """The text and image servers Muse would call: do they answer, and serve the model?"""
    found = []
    if config.text.backend == "openai":
        from core.text.remote import OpenAIBackend

        text = OpenAIBackend(config.text)
        status = await text.readiness()
        await text.close()
        found.append(
            Check("text server", "ok", f"{config.text.model} at {config.text.base_url}")
            if status == "ok"
            else Check(
                "text server",
                "FAIL",
                f"{config.text.base_url}: {status}",
                "start the server, or fix [text] base_url / model",
            )
        )
    if config.image.enabled and config.image.backend == "comfyui":
        from core.image.comfyui import ComfyUIEngine

        status = await ComfyUIEngine(config.image).readiness()
        found.append(
            Check("image server", "ok", f"ComfyUI at {config.image.comfyui_url}")
            if status == "ok"
            else Check(
                "image server",
                "FAIL",
                f"{config.image.comfyui_url}: {status}",
                "start ComfyUI, or fix [image] comfyui_url",
            )
        )
    return found


# -- all of it -----------------------------------------------------------------------------


def doctor(config_path: str | None, db: str | None, out: TextIO) -> int:
    """Run every check, print each as it is done; 1 if any failed, else 0."""
    results: list[Check] = []

    def report(*checks: Check) -> None:
        for check in checks:
            results.append(check)
            for line in check.lines():
                print(line, file=out, flush=True)

    config: Config | None = None
    config_check: Check
    try:
        config = load_config(config_path)
        config_check = Check("config", "ok", config_path or "no file: every default")
    except ConfigError as exc:
        config_check = Check(
            "config",
            "FAIL",
            f"{exc.source}: " + "; ".join(exc.problems),
            f"fix those keys (muse check-config {config_path or 'PATH'} lists them)",
        )
    report(check_python())
    report(check_torch(config))
    report(check_gpu_memory(config))
    report(config_check)
    if config is None:
        report(Check("database", "skip", "the config is invalid"))
        report(Check("models", "skip", "the config is invalid"))
        report(Check("platforms", "skip", "the config is invalid"))
    else:
        report(check_database(db or config.muse.db))
        report(*[check_model(source) for source in _sources(config)])
        report(*asyncio.run(check_servers(config)))
        report(*asyncio.run(check_platforms(config)))
    failed = [c for c in results if c.status == "FAIL"]
    warned = [c for c in results if c.status == "warn"]
    summary = f"{len(failed)} problem(s)" if failed else "everything Muse needs is in place"
    if warned:
        summary += f", {len(warned)} warning(s)"
    print(f"muse doctor: {summary}", file=out)
    return 1 if failed else 0


def main(config_path: str | None, db: str | None) -> int:
    return doctor(config_path, db, sys.stdout)
