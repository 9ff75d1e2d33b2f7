"""[guard]: a Llama Guard-style classifier on prompts and/or replies, through a text engine.

The guard is asked with its own chat template (Llama Guard's template writes the whole
classification prompt, categories included, from plain user/assistant messages), greedily,
through the same `TextEngine.stream` API as chat replies: a separate engine when [guard]
model names another model (a classifier is not a persona: it needs its own weights), the
chat engine itself for "same". Its answer, `safe` or `unsafe` + `S<n>[,S<m>]`, is parsed
here; anything else is malformed and handled as [guard] malformed_prompt/_reply say.

Refusals are logged with the categories and where, never with the text. A reply is read
by the guard once complete, so with replies checked, a reply is shown when it has passed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from core.fair_use.moderation import Refused
from core.fair_use.settings import GuardSettings
from core.text.request import GenerationSettings

__all__ = ["Guard", "GuardEngine", "GuardRefused", "Verdict", "parse_verdict"]

log = logging.getLogger(__name__)
MALFORMED = "malformed"
_CATEGORIES = re.compile(r"S[1-9][0-9]*(\s*,\s*S[1-9][0-9]*)*")


class GuardEngine(Protocol):
    """What the guard needs of a text engine."""

    tokenizer: Any

    def stream(
        self, prompt_ids: list[int], gen: GenerationSettings, cache_key: str | None = None
    ) -> AsyncIterator[str]: ...


class GuardRefused(Refused):
    """Refused by the guard; `rule_id` is "guard:<categories>" for logs and metrics."""

    def __init__(self, message: str, categories: tuple[str, ...]) -> None:
        Exception.__init__(self, message)
        self.categories = categories
        self.rule_id = "guard:" + ",".join(categories)


@dataclass(frozen=True)
class Verdict:
    safe: bool | None  # None: the answer could not be read
    categories: tuple[str, ...] = ()


def parse_verdict(output: str) -> Verdict:
    """`safe` | `unsafe` newline `S1,S10` (Llama Guard's format); anything else malformed."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    if not lines:
        return Verdict(None)
    head = lines[0].lower()
    if head == "safe" and len(lines) == 1:
        return Verdict(True)
    if head == "unsafe" and len(lines) == 2 and _CATEGORIES.fullmatch(lines[1]):
        return Verdict(False, tuple(c.strip() for c in lines[1].split(",")))
    return Verdict(None)


class Guard:
    def __init__(self, settings: GuardSettings, engine: GuardEngine) -> None:
        self.settings = settings
        self.engine = engine

    @property
    def checks_prompts(self) -> bool:
        return self.settings.check in ("prompts", "both")

    @property
    def checks_replies(self) -> bool:
        return self.settings.check in ("replies", "both")

    async def classify(self, messages: list[dict[str, str]]) -> Verdict:
        tok = self.engine.tokenizer
        ids = tok.apply_chat_template(messages, add_generation_prompt=True)
        ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
        gen = GenerationSettings(max_new_tokens=self.settings.max_new_tokens, temperature=0)
        return parse_verdict("".join([p async for p in self.engine.stream(ids, gen)]))

    def decide(self, verdict: Verdict, what: str) -> tuple[str, ...] | None:
        """None to allow; else the reasons to refuse (categories, or 'malformed')."""
        s = self.settings
        if verdict.safe is None:
            action = s.malformed_prompt if what == "prompt" else s.malformed_reply
            return (MALFORMED,) if action == "refuse" else None
        if verdict.safe:
            return None
        refused = tuple(c for c in verdict.categories if s.categories.get(c, s.default) == "refuse")
        return refused or None

    async def _check(self, messages: list[dict[str, str]], what: str, where: str) -> None:
        try:
            verdict = await self.classify(messages)
        except Exception as exc:  # the guard failing is a malformed answer, not a crash
            log.warning("guard: could not classify a %s in %s: %r", what, where, exc)
            verdict = Verdict(None)
        if verdict.safe is None:
            log.warning("guard: unreadable answer about a %s in %s", what, where)
        reasons = self.decide(verdict, what)
        if reasons is not None:
            log.info("guard refused a %s in %s: %s", what, where, ",".join(reasons))
            raise GuardRefused(self.settings.message, reasons)

    async def check_prompt(self, text: str, where: str = "") -> None:
        """Raise GuardRefused if the guard (as configured) refuses the user's message."""
        if self.checks_prompts:
            await self._check([{"role": "user", "content": text}], "prompt", where)

    async def check_reply(self, prompt: str, reply: str, where: str = "") -> None:
        if self.checks_replies:
            messages = [
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": reply},
            ]
            await self._check(messages, "reply", where)

    async def filter_reply(
        self, pieces: AsyncIterator[str], prompt: str, where: str = ""
    ) -> AsyncIterator[str]:
        """Pass a streamed reply through; with replies checked, hold it until the guard
        has read all of it, then yield it whole (or raise GuardRefused)."""
        if not self.checks_replies:
            async for piece in pieces:
                yield piece
            return
        reply = "".join([p async for p in pieces])
        await self.check_reply(prompt, reply, where)
        yield reply
