"""[policy], [limits] and [[moderation]]: who may do what, how much, and what is refused."""

from __future__ import annotations

import re
from typing import ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "GuardSettings",
    "LimitSettings",
    "ModerationRule",
    "PolicySettings",
    "parse_role_multipliers",
]


class PolicySettings(BaseModel):
    """[policy] — who may do what. Ids are written "platform:id", e.g. "discord:1234"."""

    model_config = ConfigDict(extra="forbid", strict=True)

    admins: list[str] = Field(
        default_factory=list,
        description='users allowed admin commands, e.g. ["discord:80351110224678912"]',
    )
    admin_roles: list[str] = Field(
        default_factory=list,
        description='roles whose members are admins, e.g. ["discord:123456789012345678"]',
    )
    blocked_users: list[str] = Field(
        default_factory=list, description="users Muse ignores, same form as admins"
    )
    allowed_channels: list[str] = Field(
        default_factory=list,
        description='if set, Muse only answers in these channels ("slack:C0123")',
    )
    platform_admins_are_admins: bool = Field(
        True,
        description="people the platform says administer the space (Discord Manage Server, "
        "Slack workspace admins, the local shell user) count as admins",
    )
    forget: Literal["admins", "anyone"] = Field(
        "admins",
        description="who may /forget the memory of a shared channel or thread (in a direct "
        "message with Muse, its member always may); on Discord, /forget is then hidden "
        "from members without Manage Server",
    )


def parse_role_multipliers(entries: list[str]) -> dict[str, float]:
    """'discord:42=5' -> {'discord:42': 5.0}; raises ValueError with the bad entry."""
    out = {}
    for entry in entries:
        role, sep, factor = entry.partition("=")
        try:
            if not sep or ":" not in role:
                raise ValueError
            out[role.strip()] = float(factor)
        except ValueError:
            raise ValueError(f'{entry!r} is not of the form "platform:role=factor"') from None
    return out


class LimitSettings(BaseModel):
    """[limits] — fair use: one queue for GPU work, per-user rates and daily budgets."""

    model_config = ConfigDict(extra="forbid", strict=True)

    queue_depth: int = Field(
        64,
        ge=1,
        le=100000,
        description="most requests (text + image) waiting or running; more get 'busy'",
    )
    notify_wait_seconds: float = Field(
        5.0,
        ge=0.0,
        le=3600.0,
        description="tell a user their place in line when the estimated wait exceeds this",
    )
    requests_per_minute: int = Field(
        10, ge=0, le=100000, description="per user, text and image together (0 = no limit)"
    )
    daily_tokens: int = Field(
        50000,
        ge=0,
        le=10**9,
        description="generated text tokens per user per day (0 = no limit)",
    )
    daily_images: int = Field(
        100, ge=0, le=10**9, description="images per user per day (0 = no limit)"
    )
    admin_multiplier: float = Field(
        0.0,
        ge=0.0,
        le=1000.0,
        description="admins get this many times the limits (0 = admins are not limited)",
    )
    role_multipliers: list[str] = Field(
        default_factory=list,
        description='raise limits for roles, "platform:role=factor", e.g. ["discord:42=5"]',
    )

    @field_validator("role_multipliers")
    @classmethod
    def _parses(cls, value: list[str]) -> list[str]:
        parse_role_multipliers(value)
        return value


class ModerationRule(BaseModel):
    """[[moderation]] — one rule for prompts and/or generated text."""

    model_config = ConfigDict(extra="forbid", strict=True)
    label_key: ClassVar[str] = "id"  # what names an entry in config problems

    id: str = Field("", description="rule id, logged when the rule fires")
    words: list[str] = Field(
        default_factory=list, description="whole words or phrases, case-insensitive"
    )
    regex: str = Field("", description="a Python regular expression (case-insensitive)")
    applies_to: Literal["prompt", "output", "both"] = Field("both", description="what it checks")
    action: Literal["refuse", "redact"] = Field(
        "refuse", description="refuse the request, or redact the match in output"
    )
    message: str = Field(
        "I can't help with that here.", description="what the user is told when the rule refuses"
    )

    def pattern(self) -> re.Pattern[str]:
        """The words and the regex as one pattern; re.error for a bad regex."""
        parts = [rf"\b{re.escape(w.strip())}\b" for w in self.words if w.strip()]
        if self.regex:
            parts.append(f"(?:{self.regex})")
        return re.compile("|".join(parts) or r"(?!)", re.IGNORECASE)

    @model_validator(mode="after")
    def _usable(self) -> Self:
        problems = []
        if not self.id:
            problems.append("needs an id (it is what the logs show)")
        if not self.words and not self.regex:
            problems.append("needs words or a regex")
        try:
            self.pattern()
        except re.error as exc:
            problems.append(f"regex {self.regex!r} is invalid: {exc}")
        if problems:
            raise ValueError("\n".join(problems))  # one line each in the config report
        return self


Action = Literal["allow", "refuse"]
_CATEGORY = re.compile(r"S[1-9][0-9]*")


class GuardSettings(BaseModel):
    """[guard] — a Llama Guard-style safety classifier asked about prompts and/or replies.

    Its own section: [[moderation]] is already the list of word rules. The classifier
    answers `safe`, or `unsafe` and a line of categories (`S1,S10`); each category is
    allowed or refused here. Output that is neither counts as malformed.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    model: str = Field(
        "",
        description='guard model id or path (e.g. "meta-llama/Llama-Guard-3-1B"); "same" asks '
        'the chat model itself; "" = no guard',
    )
    check: Literal["prompts", "replies", "both"] = Field(
        "both", description="what the guard reads: the user's message, Muse's reply, or both"
    )
    categories: dict[str, Action] = Field(
        default_factory=dict,
        description='per category, e.g. {S6 = "allow"}; categories not named get default',
    )
    default: Action = Field("refuse", description="what an unsafe category not named gets")
    malformed_prompt: Action = Field(
        "allow", description="when the guard's answer about a prompt cannot be read"
    )
    malformed_reply: Action = Field(
        "refuse", description="when the guard's answer about a reply cannot be read"
    )
    max_new_tokens: int = Field(
        16, ge=2, le=256, description="longest guard answer read, in tokens"
    )
    message: str = Field(
        "I can't help with that here.", description="what the user is told on a refusal"
    )

    @field_validator("categories")
    @classmethod
    def _category_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k in value if not _CATEGORY.fullmatch(k))
        if bad:
            raise ValueError(f"categories are named S1, S2, ...; not {', '.join(bad)}")
        return value
