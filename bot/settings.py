"""[muse]: process-wide settings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MuseSettings"]


class MuseSettings(BaseModel):
    """[muse] — process-wide settings."""

    model_config = ConfigDict(extra="forbid", strict=True)

    db: str = Field("muse.db", description="SQLite database file (memory, personas, schedules)")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="log level")
    shutdown_timeout_seconds: float = Field(
        6.0,
        ge=0.0,
        le=3600.0,
        description="on SIGINT/SIGTERM, how long in-flight replies may finish; then they end "
        "with an (interrupted) mark within 1.5 s more (6 + 1.5 fits docker stop's 10 s)",
    )
