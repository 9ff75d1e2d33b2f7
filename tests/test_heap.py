"""Start-up objects are frozen out of the collector's scans; later ones are not."""

from __future__ import annotations

import gc

from core.runtime.heap import freeze_startup_heap


def _tracked(obj: object) -> bool:
    return any(o is obj for o in gc.get_objects())


def test_what_lives_at_start_up_is_left_out_of_later_collections() -> None:
    loaded = {"weights": [1, 2, 3]}  # stands for what the models' libraries leave behind
    try:
        assert _tracked(loaded)
        assert freeze_startup_heap() >= 1
        assert not _tracked(loaded)  # frozen: a full collection no longer walks it
        later = {"request": []}
        assert _tracked(later)  # made after start-up: collected as usual
    finally:
        gc.unfreeze()
    assert _tracked(loaded)
