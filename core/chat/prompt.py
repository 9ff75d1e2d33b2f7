"""Turn persona + stored history + the new message into model input ids.

History is trimmed oldest-first in chunks of `chunk_turns`, so the same prefix is kept
for several turns in a row; that is what lets a per-conversation KV cache hit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from core.errors import UserError


@dataclass(frozen=True)
class Turn:
    role: str  # "user" or "assistant"
    content: str
    name: str = ""

    def as_chat(self) -> dict[str, str]:
        # Names go into the text: chat templates have no portable speaker field.
        text = f"{self.name}: {self.content}" if self.role == "user" and self.name else self.content
        return {"role": self.role, "content": text}


@dataclass(frozen=True)
class Prompt:
    ids: list[int]
    text: str
    history_used: int  # how many history turns made it in
    history_dropped: int
    # The chat messages the ids were rendered from, exactly (stored for feedback exports).
    messages: list[dict[str, str]] = field(default_factory=list)


class MessageTooLong(UserError):
    pass


def chat_messages(system: str, turns: Sequence[Turn]) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [t.as_chat() for t in turns]


def render_messages(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))


def render(tokenizer: Any, system: str, turns: Sequence[Turn]) -> str:
    return render_messages(tokenizer, chat_messages(system, turns))


def count_tokens(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def build_prompt(
    tokenizer: Any,
    system: str,
    history: Sequence[Turn],
    new: Turn,
    budget: int,
    chunk_turns: int = 8,
) -> Prompt:
    """Fit system + the newest history + `new` into `budget` tokens."""
    chunk = max(1, chunk_turns)

    def attempt(dropped: int) -> tuple[str, list[int]]:
        text = render(tokenizer, system, [*history[dropped:], new])
        return text, tokenizer(text, add_special_tokens=False)["input_ids"]

    text, ids = attempt(0)
    dropped = 0
    while len(ids) > budget and dropped < len(history):
        dropped = min(len(history), dropped + chunk)
        text, ids = attempt(dropped)
    if len(ids) > budget:
        raise MessageTooLong(
            f"That message is too long for me: it needs {len(ids)} tokens with my instructions, "
            f"and my limit is {budget}. Please shorten it."
        )
    sent = chat_messages(system, [*history[dropped:], new])
    return Prompt(list(ids), text, len(history) - dropped, dropped, sent)
