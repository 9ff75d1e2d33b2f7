"""[privacy]: how long memory keeps what people said."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PrivacySettings"]


class PrivacySettings(BaseModel):
    """[privacy] — how long Muse keeps what people said."""

    model_config = ConfigDict(extra="forbid", strict=True)

    retention_days: int = Field(
        0,
        ge=0,
        le=100000,
        description="delete messages older than this many days (0 = keep forever)",
    )
    training_opt_out: list[str] = Field(
        default_factory=list,
        description="channels never exported as training data by muse export --feedback, "
        '"platform:channel", e.g. ["slack:C0123", "discord:1234"]',
    )
