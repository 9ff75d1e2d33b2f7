"""Wiring: build the core from config, start the adapters, shut down cleanly."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import diffusers
import transformers

from bot.config import Config
from bot.features import register_commands
from bot.lifecycle import serve
from bot.observe import Health, serving
from bot.platforms import adapter_factories, configured_platforms
from bot.privacy import prune_old
from bot.supervise import supervise
from core.chat.service import Muse
from core.errors import ModelUnavailable
from core.fair_use.guard import Guard
from core.fair_use.moderation import Moderator
from core.fair_use.policy import Policy
from core.image.choose import make_image_backend
from core.image.engine import ImageEngine
from core.image.tiny import build_tiny_pipeline, default_tiny_image_dir
from core.memory.store import Memory
from core.runtime import metrics
from core.runtime.device import DeviceArbiter
from core.runtime.heap import freeze_startup_heap
from core.runtime.loop_monitor import LoopMonitor
from core.schedule.scheduler import Scheduler
from core.text.backend import TextBackend
from core.text.catalog import ModelEntry, TextModels
from core.text.choose import make_text_backend
from core.text.engine import TextEngine
from core.text.settings import DEFAULT_MODEL_NAME
from core.text.tiny import build_tiny_text_model, default_tiny_dir
from core.text.tiny_vision import build_tiny_vision_model, default_tiny_vision_dir
from core.text.vision import NotAVisionModel, VisionEngine

log = logging.getLogger(__name__)


def quiet_model_loading() -> None:
    """No per-file "Loading weights" / "Loading pipeline components" bars (they print raw
    cursor codes into logs and the terminal chat); hub download bars stay."""
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()


def _loaded(kind: str, engine: TextBackend | ImageEngine | VisionEngine, began: float) -> None:
    dtype = str(engine.dtype).removeprefix("torch.")
    seconds = time.monotonic() - began
    metrics.model_loaded(kind, engine.model_name, str(engine.device), dtype, seconds)


async def load_named_models(
    config: Config, default: TextBackend, arbiter: DeviceArbiter
) -> TextModels | None:
    """[[text.models]], each loaded like [text]'s own; None when there are none."""
    if not config.text.models:
        return None
    catalog = TextModels(ModelEntry(DEFAULT_MODEL_NAME, default, config.text.backend))
    for named in config.text.models:
        key = os.environ.get(named.api_key_env, "") if named.api_key_env else ""
        backend = make_text_backend(config.text.for_model(named, key), arbiter)
        began = time.monotonic()
        await backend.load()
        _loaded("text", backend, began)
        catalog.named[named.name] = ModelEntry(
            named.name, backend, named.backend, named.description
        )
    return catalog


async def build_muse(
    config: Config, *, tiny: bool = False, db: str | None = None, health: Health | None = None
) -> Muse:
    """Load the models and open the database; the caller must `await muse.close()`.
    `health` (for /readyz) learns of each part as it is made."""
    health = health or Health()
    quiet_model_loading()
    arbiter = DeviceArbiter()
    text = health.text = make_text_backend(config.text, arbiter)
    model = config.text.model
    began = time.monotonic()
    if tiny and config.text.backend == "local":
        model = str(await asyncio.to_thread(build_tiny_text_model, default_tiny_dir()))
        log.warning("using a tiny RANDOM text model: its replies are random words")
    await text.load(model)
    _loaded("text", text, began)
    models = await load_named_models(config, text, arbiter)
    image = None
    if config.image.enabled:
        image = health.image = make_image_backend(config.image, arbiter)
        image_model = config.image.model
        began = time.monotonic()
        if tiny and config.image.backend == "local":
            image_model = str(
                await asyncio.to_thread(build_tiny_pipeline, default_tiny_image_dir())
            )
            log.warning("using a tiny RANDOM image model: its pictures are noise")
        await image.load(image_model)
        _loaded("image", image, began)
    vision, vision_missing = await load_vision(config, arbiter, tiny)
    guard = await build_guard(config, text, tiny=tiny, arbiter=arbiter)
    memory = health.memory = await Memory.open(db or config.muse.db)
    health.muse = Muse(
        memory=memory,
        text_engine=text,
        arbiter=arbiter,
        text_settings=config.text,
        policy=Policy(config.policy),
        limits=config.limits,
        moderator=Moderator(config.moderation),
        guard=guard,
        image_engine=image,
        image_settings=config.image,
        models=models,
        memory_settings=config.memory,
        file_settings=config.files,
        vision_engine=vision,
        vision_settings=config.vision,
        vision_missing=vision_missing,
    )
    freeze_startup_heap()  # models loaded: later full collections skip all of it
    return health.muse


async def load_vision(
    config: Config, arbiter: DeviceArbiter, tiny: bool
) -> tuple[VisionEngine | None, str]:
    """The vision engine, or None and why Muse cannot see pictures (said to people who
    post one). A vision model that reads text only, or cannot be loaded (offline, a typo),
    is not fatal: chat goes on, and the log and the answer to a picture say why."""
    if not config.vision.enabled:
        return None, "[vision] is turned off in my config"
    engine = VisionEngine(config.vision, arbiter)
    model = config.vision.model
    began = time.monotonic()
    if tiny:
        model = str(await asyncio.to_thread(build_tiny_vision_model, default_tiny_vision_dir()))
        log.warning("using a tiny RANDOM vision model: its answers are random words")
    try:
        await engine.load(model)
    except NotAVisionModel as exc:
        log.warning("%s", exc)
        return None, f"my [vision] model ({model}) reads text only"
    except ModelUnavailable as exc:
        log.warning("pictures will not be seen: %s", exc)
        return None, f"my [vision] model ({model}) could not be loaded"
    _loaded("vision", engine, began)
    return engine, ""


async def build_guard(
    config: Config,
    text: TextBackend,
    *,
    tiny: bool = False,
    arbiter: DeviceArbiter | None = None,
) -> Guard | None:
    """[guard]: "same" asks the chat engine; another model gets an engine of its own (a
    classifier needs its own weights) on the same device arbiter, greedy, without the
    prefix cache (each question is new), no adapters or quantization of the chat model's.
    The guard runs in-process: with [text] backend = "openai" it needs a model of its own."""
    name = config.guard.model
    if not name:
        return None
    if not isinstance(text, TextEngine) and (name == "same" or tiny):
        raise ModelUnavailable(
            '[guard] model = "same" asks the in-process chat model, and [text] backend = '
            '"openai" runs it on a server: name a guard model for Muse to load instead'
        )
    if name == "same" or tiny:
        assert isinstance(text, TextEngine)
        if tiny and name != "same":
            log.warning("--tiny: the guard asks the tiny random model (its answers are noise)")
        return Guard(config.guard, text)
    settings = config.text.model_copy(
        update={
            "model": name,
            "backend": "local",
            "prefix_cache_mb": 0,
            "adapters": [],
            "quantization": "none",
            "models": [],
        }
    )
    engine = TextEngine(settings, arbiter or getattr(text, "arbiter", None) or DeviceArbiter())
    began = time.monotonic()
    await engine.load()
    _loaded("guard", engine, began)
    return Guard(config.guard, engine)


async def housekeeping(muse: Muse, config: Config) -> None:
    """Daily chores while the bot runs: retention pruning."""
    while True:
        pruned = await prune_old(muse.memory, config.privacy.retention_days)
        if pruned:
            days = config.privacy.retention_days
            log.info("retention: pruned %d message(s) older than %d days", pruned, days)
        await asyncio.sleep(86400)


async def _serve(muse: Muse, config: Config, adapters: list[Coroutine[Any, Any, None]]) -> None:
    """Scheduler, housekeeping and the loop monitor around the adapters; close at the end."""
    monitor = LoopMonitor()
    monitor.start()
    chores = asyncio.create_task(housekeeping(muse, config))
    scheduler = Scheduler(muse, config.scheduler)
    register_commands(muse, scheduler)
    try:
        await scheduler.start(config.schedules)
        await serve(muse, adapters, config.muse.shutdown_timeout_seconds)
    finally:
        await scheduler.stop()
        chores.cancel()
        await monitor.stop()
        if muse.image_engine is not None:
            await muse.image_engine.close()
        await muse.close()


async def _run_shell(config: Config, tiny: bool, db: str | None, health: Health) -> None:
    from adapters.shell import ShellAdapter

    muse = await build_muse(config, tiny=tiny, db=db, health=health)
    shell = ShellAdapter(muse, image_dir=Path(config.image.output_dir))  # registers its outbound
    await _serve(muse, config, [shell.run()])


async def run_shell(config: Config, *, tiny: bool, db: str | None) -> None:
    health = Health(image_wanted=config.image.enabled)
    async with serving(config.metrics, health):
        await _run_shell(config, tiny, db, health)


async def run(config: Config, *, tiny: bool, db: str | None) -> None:
    """Start the configured platform adapters, or the shell when none is configured."""
    names = configured_platforms(config)
    health = Health(platforms=names, image_wanted=config.image.enabled)
    async with serving(config.metrics, health):  # /readyz says "loading" meanwhile
        if not names:
            log.info("no platform tokens configured: starting the terminal chat")
            await _run_shell(config, tiny, db, health)
            return
        muse = await build_muse(config, tiny=tiny, db=db, health=health)
        builders = adapter_factories(config, muse, names)
        log.info("starting %s", ", ".join(names))
        tracked = [
            health.tracking(name, build) for name, build in zip(names, builders, strict=True)
        ]
        await _serve(muse, config, [supervise(build) for build in tracked])
