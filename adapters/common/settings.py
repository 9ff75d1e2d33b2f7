"""Config field types the platform adapters share: API base URLs, secrets read from files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, SecretStr

__all__ = ["ApiUrl", "read_secret_files"]


def _http(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("must start with https://")
    return value


ApiUrl = Annotated[str, AfterValidator(_http)]


def read_secret_files(settings: BaseModel, *names: str) -> list[str]:
    """Fill each secret `name` from the file that `name_file` names (a Docker or systemd
    secret, say); returns problem lines for the config report, never a secret's value."""
    problems = []
    for name in names:
        path = getattr(settings, f"{name}_file")
        if not path:
            continue
        if getattr(settings, name).get_secret_value():
            extra = type(settings).model_fields[name].json_schema_extra
            env = extra.get("env") if isinstance(extra, dict) else None
            problems.append(f"{name}_file is set and so is {name} (or {env}): keep one")
            continue
        try:
            value = Path(path).expanduser().read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            problems.append(f"{name}_file = {path!r}: cannot read it ({reason})")
            continue
        if not value:
            problems.append(f"{name}_file = {path!r}: the file is empty")
        setattr(settings, name, SecretStr(value))
    return problems
