"""[privacy]: how long memory keeps what people said."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PrivacySettings:
    """[privacy] — how long Muse keeps what people said."""

    retention_days: int = field(
        default=0,
        metadata={
            "doc": "delete messages older than this many days (0 = keep forever)",
            "min": 0,
            "max": 100000,
        },
    )
