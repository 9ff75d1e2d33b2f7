"""Keep Python's full garbage collections short once the models are loaded.

transformers, diffusers, torch and the platform libraries leave over half a million
objects on the heap at start-up, all of them alive for the life of the process. A full
(oldest-generation) collection walks every one of them: about 330 ms on the 2-core
development machine, during which the event loop (heartbeats, acks, streamed edits) and
the device thread (the next token) both wait. `gc.freeze()` moves what exists now into a
permanent generation that collections skip; objects made later are collected as before.
"""

from __future__ import annotations

import gc
import logging

__all__ = ["freeze_startup_heap"]

log = logging.getLogger(__name__)


def freeze_startup_heap() -> int:
    """Collect once, then keep everything alive now out of later collections; returns how
    many objects were frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("froze %d start-up objects out of the garbage collector's scans", frozen)
    return frozen
