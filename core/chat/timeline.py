"""Lay a conversation's memory out as chat-template messages, within the token budget.

What a prompt holds, in order: the persona, then (in the same system message) the rolling
summary of turns that no longer fit; then, oldest first, the conversation's own turns,
with what was said around them and not to Muse (channel context, and for a thread the
channel's own newest turns) folded into the next user turn as attributed lines. Chat
templates often insist that user and assistant alternate, so context never becomes a
message of its own. Everything is placed by when it was said, so text only ever joins at
the end: the prompt prefix stays the same from turn to turn (the prefix cache hits) until
old items are trimmed, in chunks, or a new summary takes their place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from core.chat.prompt import (
    MessageTooLong,
    Prompt,
    Turn,
    chat_messages,
    count_tokens,
    render_messages,
)

__all__ = ["CONTEXT_HEADER", "Assembled", "Item", "assemble", "system_text"]

CONTEXT_HEADER = "(Also said here meanwhile:)"
SUMMARY_HEADER = "Summary of the earlier conversation:"


@dataclass(frozen=True)
class Item:
    """One thing said: a turn of this conversation (`message_id` > 0) or a context line."""

    at: float
    role: str  # "user" or "assistant" for own turns; "context" for lines
    content: str
    name: str = ""
    message_id: int = 0
    author_id: str = ""  # whose words (a purge finds the prompts that quote them)

    @property
    def is_turn(self) -> bool:
        return self.role != "context"

    def line(self) -> str:
        return f"{self.name}: {self.content}" if self.name else self.content


@dataclass(frozen=True)
class Assembled:
    prompt: Prompt
    dropped_ids: list[int] = field(default_factory=list)  # own turns that did not fit
    authors: list[str] = field(default_factory=list)  # ids of everyone quoted in the prompt


def system_text(persona: str, summary: str | None) -> str:
    if not summary:
        return persona
    return f"{persona}\n\n{SUMMARY_HEADER}\n{summary}".strip()


def turns_of(items: Sequence[Item], new: Turn) -> list[Turn]:
    """Own turns as they are; context lines gathered into the next user turn."""
    turns: list[Turn] = []
    pending: list[str] = []
    for item in items:
        if not item.is_turn:
            pending.append(item.line())
        elif item.role == "user":
            turns.append(with_context(Turn("user", item.content, item.name), pending))
            pending = []
        else:
            turns.append(Turn(item.role, item.content, item.name))
    turns.append(with_context(new, pending))
    return turns


def with_context(turn: Turn, lines: list[str]) -> Turn:
    if not lines:
        return turn
    said = turn.as_chat()["content"]
    return Turn("user", "\n".join([CONTEXT_HEADER, *lines, "", said]))


def bound_context(tokenizer: Any, items: list[Item], budget: int) -> list[Item]:
    """Keep the newest context lines within `budget` tokens; own turns all stay."""
    kept: list[Item] = []
    used = 0
    for item in reversed(items):
        if not item.is_turn:
            used += count_tokens(tokenizer, item.line()) + 1
            if used > budget:
                continue
        kept.append(item)
    kept.reverse()
    return kept


def assemble(
    tokenizer: Any,
    persona: str,
    summary: str | None,
    items: Sequence[Item],
    new: Turn,
    budget: int,
    chunk: int = 8,
    context_tokens: int = 512,
) -> Assembled:
    """Fit persona + summary + the newest items + `new` into `budget` tokens, dropping the
    oldest items `chunk` at a time (so the prefix holds for several turns)."""
    ordered = sorted(items, key=lambda i: i.at)  # stable: equal times keep their order
    ordered = bound_context(tokenizer, ordered, context_tokens)
    chunk = max(1, chunk)

    def attempt(dropped: int, system: str) -> tuple[list[dict[str, str]], str, list[int]]:
        messages = chat_messages(system, turns_of(ordered[dropped:], new))
        text = render_messages(tokenizer, messages)
        return messages, text, tokenizer(text, add_special_tokens=False)["input_ids"]

    system = system_text(persona, summary)
    messages, text, ids = attempt(0, system)
    dropped = 0
    while len(ids) > budget and dropped < len(ordered):
        dropped = min(len(ordered), dropped + chunk)
        messages, text, ids = attempt(dropped, system)
    if len(ids) > budget and summary:
        # a summary never makes a message too long
        messages, text, ids = attempt(dropped, persona)
    if len(ids) > budget:
        raise MessageTooLong(
            f"That message is too long for me: it needs {len(ids)} tokens with my instructions, "
            f"and my limit is {budget}. Please shorten it."
        )
    lost = [i.message_id for i in ordered[:dropped] if i.is_turn and i.message_id]
    used = sum(1 for i in ordered[dropped:] if i.is_turn)
    authors = sorted({i.author_id for i in ordered[dropped:] if i.author_id})
    return Assembled(Prompt(list(ids), text, used, len(lost), messages), lost, authors)
