"""[muse]: process-wide settings."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class MuseSettings:
    """[muse] — process-wide settings."""

    db: str = field(
        default="muse.db", metadata={"doc": "SQLite database file (memory, personas, schedules)"}
    )
    log_level: str = field(
        default="info",
        metadata={"doc": "log level", "choices": ["debug", "info", "warning", "error"]},
    )
    shutdown_timeout_seconds: float = field(
        default=20.0,
        metadata={
            "doc": "on SIGINT/SIGTERM, how long in-flight replies may finish before cancelling",
            "min": 0.0,
            "max": 3600.0,
        },
    )
