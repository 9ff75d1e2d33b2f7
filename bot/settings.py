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
        default=6.0,
        metadata={
            "doc": "on SIGINT/SIGTERM, how long in-flight replies may finish; then they end "
            "with an (interrupted) mark within 1.5 s more (6 + 1.5 fits docker stop's 10 s)",
            "min": 0.0,
            "max": 3600.0,
        },
    )
