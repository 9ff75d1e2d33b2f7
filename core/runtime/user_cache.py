"""Small JSON files Muse keeps between starts (measurements it can always redo).

They live in `$MUSE_CACHE_DIR` if set, else `$XDG_CACHE_HOME/muse`, else `~/.cache/muse`.
A cache is an optimisation only: a missing, unreadable or corrupt file reads as empty, and a
file that cannot be written is logged and skipped, never fatal.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ENV = "MUSE_CACHE_DIR"


def cache_dir() -> Path:
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "muse"


def tiny_model_dir(name: str) -> Path:
    """Where a tiny random test model is built: `$MUSE_TINY_DIR/name`, else
    `~/.cache/muse/name` (the tests point MUSE_TINY_DIR at their own folder)."""
    override = os.environ.get("MUSE_TINY_DIR")
    base = Path(override) if override else Path.home() / ".cache" / "muse"
    return base / name


def read_json(name: str) -> dict[str, Any]:
    """The file's top-level object, or {} when it is missing or not a JSON object."""
    path = cache_dir() / name
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:  # ValueError covers bad JSON and bad UTF-8
        log.warning("cache %s unreadable (%s); ignoring it", path, exc)
        return {}
    if not isinstance(data, dict):
        log.warning("cache %s holds no JSON object; ignoring it", path)
        return {}
    return data


def write_json(name: str, data: dict[str, Any]) -> None:
    """Replace the file atomically, so a concurrent start reads the old or the new, never half."""
    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, sort_keys=True)
            os.replace(tmp, directory / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.warning("cache %s not written (%s); it will be measured again", directory / name, exc)
