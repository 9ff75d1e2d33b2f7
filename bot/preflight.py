"""What `muse run` would refuse before loading anything, checked on the file system: the
database path and local model folders. `muse check-config` runs the same checks, so a
config it calls OK also starts (the config's own types and ranges are checked on load)."""

from __future__ import annotations

from bot.config import Config
from core.memory.store import db_path_problem
from core.runtime.models import missing_folder

__all__ = ["preflight"]


def preflight(config: Config, *, db: str | None = None, tiny: bool = False) -> list[str]:
    """Problem lines, one per key, naming the key (empty when Muse can start)."""
    problems = []
    path = db or config.muse.db
    if (problem := db_path_problem(path)) is not None:
        problems.append(f"[muse] db = {path!r}: {problem}" if db is None else f"--db: {problem}")
    models = [("[text] model", config.text.model)]
    if config.image.enabled:
        models.append(("[image] model", config.image.model))
    if config.guard.model and config.guard.model != "same":
        models.append(("[guard] model", config.guard.model))
    models += [(f"[text] adapters '{a.name}' path", a.path) for a in config.text.adapters]
    for key, name in models if not tiny else []:  # --tiny builds its own models
        if (missing := missing_folder(name, key)) is not None:
            problems.append(f"{key} = {name!r}: {str(missing).splitlines()[0]}")
    return problems
