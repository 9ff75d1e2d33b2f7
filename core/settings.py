"""Settings for the core, one dataclass per config section.

Each field carries its documentation and limits in `metadata` ("doc", "min", "max",
"choices", "env", "secret"); the config loader validates TOML against them and
`config.example.toml` is checked against them, so rules live in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_TEXT_MODEL = "Qwen/Qwen2.5-1.5B-Instruct"
DEFAULT_SYSTEM_PROMPT = (
    "You are Muse, a friendly and concise assistant in a group chat. Messages from people "
    "start with their name and a colon. Answer the latest message."
)


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


def device_field() -> Any:
    """[text] and [image] device: which accelerator a model loads on."""
    return field(
        default="auto", metadata={"doc": "auto (CUDA, then MPS, then CPU), or e.g. cuda:1, cpu"}
    )


def dtype_field() -> Any:
    return field(
        default="auto",
        metadata={
            "doc": "auto = bf16/fp16 on CUDA, fp32 on CPU",
            "choices": ["auto", "float32", "bfloat16", "float16"],
        },
    )


@dataclass
class TextSettings:
    """[text] — the chat model and how it generates."""

    model: str = field(
        default=DEFAULT_TEXT_MODEL,
        metadata={"doc": "Hugging Face model id or local path of a causal LM with a chat template"},
    )
    device: str = device_field()
    dtype: str = dtype_field()
    system_prompt: str = field(
        default=DEFAULT_SYSTEM_PROMPT,
        metadata={"doc": "default persona; /persona set overrides it per channel"},
    )
    max_new_tokens: int = field(
        default=512, metadata={"doc": "longest reply, in tokens", "min": 1, "max": 32768}
    )
    prompt_tokens: int = field(
        default=3072,
        metadata={
            "doc": "token budget for persona + history + new message; oldest turns drop first",
            "min": 64,
            "max": 1_000_000,
        },
    )
    trim_chunk_turns: int = field(
        default=8,
        metadata={
            "doc": "history is trimmed this many turns at a time, so the prompt prefix "
            "stays stable (and cacheable) across turns",
            "min": 1,
            "max": 1000,
        },
    )
    temperature: float = field(
        default=0.7, metadata={"doc": "sampling temperature; 0 = greedy", "min": 0.0, "max": 5.0}
    )
    top_p: float = field(
        default=0.9, metadata={"doc": "nucleus sampling threshold", "min": 0.01, "max": 1.0}
    )
    max_batch_size: int = field(
        default=16,
        metadata={
            "doc": "most replies decoded together in one forward pass (1 = one at a time)",
            "min": 1,
            "max": 256,
        },
    )
    prefix_cache_mb: int = field(
        default=512,
        metadata={
            "doc": "memory for per-conversation KV caches reused across turns (0 = off)",
            "min": 0,
            "max": 1_000_000,
        },
    )
    history_messages: int = field(
        default=200,
        metadata={"doc": "most stored messages read back per prompt", "min": 0, "max": 100000},
    )


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


@dataclass
class PrivacySettings:
    """[privacy] — how long Muse keeps what people said."""

    retention_days: int = field(
        default=0,
        metadata={
            "doc": "delete messages older than this many days (0 = keep forever)",
            "min": 0,
            "max": 100000,
        },
    )
