"""Wiring: build the core from config, start the adapters, shut down cleanly."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from bot.config import Config
from bot.lifecycle import serve
from bot.platforms import build_adapters, configured_platforms
from bot.privacy import prune_old
from core.device import DeviceArbiter
from core.loop_monitor import LoopMonitor
from core.memory import Memory
from core.moderation import Moderator
from core.policy import Policy
from core.scheduler import Scheduler
from core.service import Muse
from core.text_engine import TextEngine
from core.tiny_text import build_tiny_text_model, default_tiny_dir

log = logging.getLogger(__name__)


async def build_muse(config: Config, *, tiny: bool = False, db: str | None = None) -> Muse:
    """Load the models and open the database; the caller must `await muse.close()`."""
    arbiter = DeviceArbiter()
    text = TextEngine(config.text, arbiter)
    model = config.text.model
    if tiny:
        model = str(await asyncio.to_thread(build_tiny_text_model, default_tiny_dir()))
        log.warning("using a tiny RANDOM text model: its replies are random words")
    await text.load(model)
    memory = await Memory.open(db or config.muse.db)
    return Muse(
        memory=memory,
        text_engine=text,
        arbiter=arbiter,
        text_settings=config.text,
        policy=Policy(config.policy),
        limits=config.limits,
        moderator=Moderator(config.moderation),
    )


async def housekeeping(muse: Muse, config: Config) -> None:
    """Daily chores while the bot runs: retention pruning."""
    while True:
        pruned = await prune_old(muse.memory, config.privacy.retention_days)
        if pruned:
            log.info(
                "retention: pruned %d message(s) older than %d days",
                pruned,
                config.privacy.retention_days,
            )
        await asyncio.sleep(86400)


async def run_shell(config: Config, *, tiny: bool, db: str | None) -> None:
    from adapters.shell import ShellAdapter

    muse = await build_muse(config, tiny=tiny, db=db)
    monitor = LoopMonitor()
    monitor.start()
    chores = asyncio.create_task(housekeeping(muse, config))
    scheduler = Scheduler(muse, config.scheduler)
    try:
        shell = ShellAdapter(muse, image_dir=Path("muse-images"))  # registers its outbound
        await scheduler.start(config.schedules)
        await serve(muse, [shell.run()], config.muse.shutdown_timeout_seconds)
    finally:
        await scheduler.stop()
        chores.cancel()
        await monitor.stop()
        await muse.close()


async def run(config: Config, *, tiny: bool, db: str | None) -> None:
    """Start the configured platform adapters, or the shell when none is configured."""
    names = configured_platforms(config)
    if not names:
        log.info("no platform tokens configured: starting the terminal chat")
        await run_shell(config, tiny=tiny, db=db)
        return
    muse = await build_muse(config, tiny=tiny, db=db)
    monitor = LoopMonitor()
    monitor.start()
    chores = asyncio.create_task(housekeeping(muse, config))
    try:
        adapters = build_adapters(config, muse, names)
        log.info("starting %s", ", ".join(names))
        await serve(muse, [a.run() for a in adapters], config.muse.shutdown_timeout_seconds)
    finally:
        chores.cancel()
        await monitor.stop()
        await muse.close()
