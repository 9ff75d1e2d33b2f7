"""Config field types the platform adapters share: API base URLs."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

__all__ = ["ApiUrl"]


def _http(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("must start with https://")
    return value


ApiUrl = Annotated[str, AfterValidator(_http)]
