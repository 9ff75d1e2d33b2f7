"""[muse], [logging] and [metrics]: process-wide settings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["CannotListen", "LoggingSettings", "MetricsSettings", "MuseSettings", "parse_listen"]


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


class LoggingSettings(BaseModel):
    """[logging] — how log lines are written (the level is [muse] log_level)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    format: Literal["text", "json"] = Field(
        "text",
        description="text: one readable line per record; json: one JSON object per line "
        "(time, level, logger, message, request_id, exception) for log collectors; "
        "request_id is the error id users are shown",
    )


LISTEN_HELP = 'must be "HOST:PORT" with a port from 0 to 65535, e.g. "127.0.0.1:9464"'


def parse_listen(value: str) -> tuple[str, int]:
    """ "127.0.0.1:9464" -> ("127.0.0.1", 9464); "[::1]:9464" -> ("::1", 9464)."""
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(LISTEN_HELP)
    return host, int(port)


class MetricsSettings(BaseModel):
    """[metrics] — an HTTP endpoint for Prometheus and health checks: /metrics, /livez, /readyz."""

    model_config = ConfigDict(extra="forbid", strict=True)

    listen: str = Field(
        "",
        description='where to serve /metrics, /livez and /readyz, as "HOST:PORT" (e.g. '
        '"127.0.0.1:9464"; "0.0.0.0:9464" inside a container, port 0: any free port); '
        "empty: off. Nothing there needs a password: keep it off public addresses",
    )

    @field_validator("listen")
    @classmethod
    def _valid_address(cls, value: str) -> str:
        if value.strip():
            parse_listen(value.strip())
        return value.strip()

    @property
    def address(self) -> tuple[str, int] | None:
        """(host, port), or None when off."""
        return parse_listen(self.listen) if self.listen else None


class CannotListen(Exception):
    """[metrics] listen names an address Muse cannot bind; the message says what to change."""
