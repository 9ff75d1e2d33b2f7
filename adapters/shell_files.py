"""Files on the terminal: `--reference PATH` of /imagine names a local file, which the
person at the terminal (who runs Muse) may read. The same size cap applies as for files
from chat platforms."""

from __future__ import annotations

import asyncio
from pathlib import Path

from core.files.fetch import FetchError, TooLarge

__all__ = ["read_local_file"]


async def read_local_file(path: str, max_bytes: int) -> bytes:
    """A core `Fetcher` for the shell: the bytes of a local file."""
    return await asyncio.to_thread(_read, path, max_bytes)


def _read(name: str, max_bytes: int) -> bytes:
    path = Path(name).expanduser()
    try:
        if not path.is_file():
            raise FetchError(f"{path} is not a file")
        if path.stat().st_size > max_bytes:
            raise TooLarge()
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
        if len(data) > max_bytes:  # it grew since stat()
            raise TooLarge()
        return data
    except OSError as exc:
        raise FetchError(f"cannot read {path}: {exc.strerror or exc}") from None
