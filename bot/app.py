"""Wiring: build the core from config, start the adapters, shut down cleanly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import diffusers
import transformers

from bot.config import Config
from bot.features import register_commands
from bot.lifecycle import serve
from bot.platforms import adapter_factories, configured_platforms
from bot.privacy import prune_old
from bot.supervise import supervise
from core.chat.service import Muse
from core.fair_use.moderation import Moderator
from core.fair_use.policy import Policy
from core.image.engine import ImageEngine
from core.image.tiny import build_tiny_pipeline, default_tiny_image_dir
from core.memory.store import Memory
from core.runtime.device import DeviceArbiter
from core.runtime.loop_monitor import LoopMonitor
from core.schedule.scheduler import Scheduler
from core.text.engine import TextEngine
from core.text.tiny import build_tiny_text_model, default_tiny_dir

log = logging.getLogger(__name__)


def quiet_model_loading() -> None:
    """No per-file "Loading weights" / "Loading pipeline components" bars (they print raw
    cursor codes into logs and the terminal chat); hub download bars stay."""
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()


async def build_muse(config: Config, *, tiny: bool = False, db: str | None = None) -> Muse:
    """Load the models and open the database; the caller must `await muse.close()`."""
    quiet_model_loading()
    arbiter = DeviceArbiter()
    text = TextEngine(config.text, arbiter)
    model = config.text.model
    if tiny:
        model = str(await asyncio.to_thread(build_tiny_text_model, default_tiny_dir()))
        log.warning("using a tiny RANDOM text model: its replies are random words")
    await text.load(model)
    image = None
    if config.image.enabled:
        image = ImageEngine(config.image, arbiter)
        image_model = config.image.model
        if tiny:
            image_model = str(
                await asyncio.to_thread(build_tiny_pipeline, default_tiny_image_dir())
            )
            log.warning("using a tiny RANDOM image model: its pictures are noise")
        await image.load(image_model)
    memory = await Memory.open(db or config.muse.db)
    return Muse(
        memory=memory,
        text_engine=text,
        arbiter=arbiter,
        text_settings=config.text,
        policy=Policy(config.policy),
        limits=config.limits,
        moderator=Moderator(config.moderation),
        image_engine=image,
        image_settings=config.image,
    )


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


async def run_shell(config: Config, *, tiny: bool, db: str | None) -> None:
    from adapters.shell import ShellAdapter

    muse = await build_muse(config, tiny=tiny, db=db)
    shell = ShellAdapter(muse, image_dir=Path(config.image.output_dir))  # registers its outbound
    await _serve(muse, config, [shell.run()])


async def run(config: Config, *, tiny: bool, db: str | None) -> None:
    """Start the configured platform adapters, or the shell when none is configured."""
    names = configured_platforms(config)
    if not names:
        log.info("no platform tokens configured: starting the terminal chat")
        await run_shell(config, tiny=tiny, db=db)
        return
    muse = await build_muse(config, tiny=tiny, db=db)
    builders = adapter_factories(config, muse, names)
    log.info("starting %s", ", ".join(names))
    await _serve(muse, config, [supervise(build) for build in builders])
