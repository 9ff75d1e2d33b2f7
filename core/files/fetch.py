"""Getting a posted file's bytes: the fetcher an adapter registers, and a small cache.

The core never talks to a platform: each adapter registers a `Fetcher` (see
adapters/common/download.py) that knows its platform's hosts and auth. The cache keeps
recently downloaded pictures, so a follow-up question about a picture does not download
it again; files evicted from it are fetched again by reference.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

__all__ = ["FetchError", "Fetcher", "FileCache", "TooLarge"]

# (url, max_bytes) -> the bytes; raises FetchError (TooLarge past max_bytes).
Fetcher = Callable[[str, int], Awaitable[bytes]]


class FetchError(Exception):
    """A download failed; the message says why, for the person who posted the file."""


class TooLarge(FetchError):
    """The file is bigger than the cap (found while downloading)."""


class FileCache:
    """Downloaded bytes by URL, least recently used dropped first, within `max_bytes`."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0

    def get(self, url: str) -> bytes | None:
        data = self._items.get(url)
        if data is not None:
            self._items.move_to_end(url)
        return data

    def put(self, url: str, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        if url in self._items:
            self._size -= len(self._items.pop(url))
        self._items[url] = data
        self._size += len(data)
        while self._size > self.max_bytes:
            _, dropped = self._items.popitem(last=False)
            self._size -= len(dropped)
