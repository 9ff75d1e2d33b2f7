"""Per-conversation KV caches kept between turns, bounded by bytes, least recently used out.

An entry holds the token ids its cache covers. A new prompt reuses the longest common
prefix, so a conversation whose history was trimmed or whose persona changed simply
gets a shorter (or no) hit rather than a wrong one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from transformers import DynamicCache

from core.text import kv


@dataclass
class Entry:
    ids: list[int]
    cache: DynamicCache
    size: int


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class PrefixCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()  # touched from the device thread and the loop
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    @property
    def used_bytes(self) -> int:
        return sum(e.size for e in self._entries.values())

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def take(self, key: str, ids: list[int]) -> tuple[DynamicCache | None, int]:
        """Remove and return the cache for `key` cropped to its reusable prefix of `ids`."""
        with self._lock:
            entry = self._entries.pop(key, None)
        if entry is None:
            self.misses += 1
            return None, 0
        # Keep at least one prompt token to prefill: its logits start the reply.
        reuse = min(common_prefix(entry.ids, ids), len(ids) - 1)
        if reuse <= 0:
            self.misses += 1
            return None, 0
        kv.crop(entry.cache, reuse)
        self.hits += 1
        return entry.cache, reuse

    def put(self, key: str, ids: list[int], cache: DynamicCache) -> None:
        size = kv.nbytes(cache)
        if size > self.max_bytes:
            return
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = Entry(list(ids), cache, size)
            while self.used_bytes > self.max_bytes:
                self._entries.popitem(last=False)
                self.evictions += 1

    def invalidate(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
