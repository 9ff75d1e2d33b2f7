"""[privacy]: how long memory keeps what people said; [memory]: what it remembers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MemorySettings", "PrivacySettings"]


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


class MemorySettings(BaseModel):
    """[memory] — what a conversation remembers beyond its own recent turns."""

    model_config = ConfigDict(extra="forbid", strict=True)

    scope: Literal["channel", "thread"] = Field(
        "channel",
        description="default memory scope: 'channel' (top-level messages share the channel's "
        "memory; a thread is a sub-conversation that also sees the channel) or 'thread' "
        "(every thread, and every Slack mention's thread, remembers alone); admins change "
        "it per channel with /memory",
    )
    channel_context: bool = Field(
        True,
        description="keep channel messages not addressed to Muse as context (where the "
        "platform delivers them); admins opt a channel out with /memory context off",
    )
    context_messages: int = Field(
        50, ge=0, le=10000, description="most context messages kept per channel or thread"
    )
    context_max_age_hours: float = Field(
        24.0, ge=0.0, le=8760.0, description="context messages older than this are not used"
    )
    context_tokens: int = Field(
        512, ge=0, le=100_000, description="most tokens of context messages in one prompt"
    )
    thread_sees_channel: int = Field(
        20,
        ge=0,
        le=1000,
        description="how many of the channel's turns and context messages a thread sees from "
        "before it began, and as many from since",
    )
    summaries: bool = Field(
        True, description="summarise turns that fall out of the prompt instead of losing them"
    )
    summary_tokens: int = Field(
        256, ge=16, le=8192, description="longest summary; a longer one is summarised again"
    )
    summarize_max_messages: int = Field(
        400, ge=1, le=10000, description="most platform messages /summarize reads"
    )
