"""[policy], [limits] and [[moderation]]: who may do what, how much, and what is refused."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PolicySettings:
    """[policy] — who may do what. Ids are written "platform:id", e.g. "discord:1234"."""

    admins: list[str] = field(
        default_factory=list,
        metadata={"doc": 'users allowed admin commands, e.g. ["discord:80351110224678912"]'},
    )
    admin_roles: list[str] = field(
        default_factory=list,
        metadata={"doc": 'roles whose members are admins, e.g. ["discord:123456789012345678"]'},
    )
    blocked_users: list[str] = field(
        default_factory=list, metadata={"doc": "users Muse ignores, same form as admins"}
    )
    allowed_channels: list[str] = field(
        default_factory=list,
        metadata={"doc": 'if set, Muse only answers in these channels ("slack:C0123")'},
    )
    platform_admins_are_admins: bool = field(
        default=True,
        metadata={
            "doc": "people the platform says administer the space (Discord Manage Server, "
            "Slack workspace admins, the local shell user) count as admins"
        },
    )


@dataclass
class LimitSettings:
    """[limits] — fair use: one queue for GPU work, per-user rates and daily budgets."""

    queue_depth: int = field(
        default=64,
        metadata={
            "doc": "most requests (text + image) waiting or running; more get 'busy'",
            "min": 1,
            "max": 100000,
        },
    )
    notify_wait_seconds: float = field(
        default=5.0,
        metadata={
            "doc": "tell a user their place in line when the estimated wait exceeds this",
            "min": 0.0,
            "max": 3600.0,
        },
    )
    requests_per_minute: int = field(
        default=10,
        metadata={
            "doc": "per user, text and image together (0 = no limit)",
            "min": 0,
            "max": 100000,
        },
    )
    daily_tokens: int = field(
        default=50000,
        metadata={
            "doc": "generated text tokens per user per day (0 = no limit)",
            "min": 0,
            "max": 10**9,
        },
    )
    daily_images: int = field(
        default=100,
        metadata={"doc": "images per user per day (0 = no limit)", "min": 0, "max": 10**9},
    )
    admin_multiplier: float = field(
        default=0.0,
        metadata={
            "doc": "admins get this many times the limits (0 = admins are not limited)",
            "min": 0.0,
            "max": 1000.0,
        },
    )
    role_multipliers: list[str] = field(
        default_factory=list,
        metadata={"doc": 'raise limits for roles, "platform:role=factor", e.g. ["discord:42=5"]'},
    )


@dataclass
class ModerationRule:
    """[[moderation]] — one rule for prompts and/or generated text."""

    id: str = field(default="", metadata={"doc": "rule id, logged when the rule fires"})
    words: list[str] = field(
        default_factory=list, metadata={"doc": "whole words or phrases, case-insensitive"}
    )
    regex: str = field(
        default="", metadata={"doc": "a Python regular expression (case-insensitive)"}
    )
    applies_to: str = field(
        default="both",
        metadata={"doc": "what it checks", "choices": ["prompt", "output", "both"]},
    )
    action: str = field(
        default="refuse",
        metadata={
            "doc": "refuse the request, or redact the match in output",
            "choices": ["refuse", "redact"],
        },
    )
    message: str = field(
        default="I can't help with that here.",
        metadata={"doc": "what the user is told when the rule refuses"},
    )
