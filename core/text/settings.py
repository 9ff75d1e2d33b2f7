"""[text]: the chat model and how it generates."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.runtime.settings import device_field, dtype_field

DEFAULT_TEXT_MODEL = "Qwen/Qwen2.5-1.5B-Instruct"
DEFAULT_SYSTEM_PROMPT = (
    "You are Muse, a friendly and concise assistant in a group chat. Messages from people "
    "start with their name and a colon. Answer the latest message."
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
