"""Configurable word-list and regex rules for prompts and generated text.

A rule refuses a request or redacts matches from output. Blocks are logged with the
rule id and where, never with the offending text above debug level.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from core.errors import UserError
from core.fair_use.settings import ModerationRule

log = logging.getLogger(__name__)
REDACTED = "[redacted]"
# Output is held back this many characters so a match is never split across two edits.
HOLD_BACK = 64


class Refused(UserError):
    def __init__(self, rule: ModerationRule) -> None:
        super().__init__(rule.message)
        self.rule_id = rule.id


@dataclass(frozen=True)
class _Compiled:
    rule: ModerationRule
    pattern: re.Pattern[str]


class Moderator:
    def __init__(self, rules: list[ModerationRule] | None = None) -> None:
        self.rules = [_Compiled(r, r.pattern()) for r in rules or []]

    def _matching(self, text: str, target: str, action: str) -> _Compiled | None:
        for c in self.rules:
            if c.rule.applies_to in (target, "both") and c.rule.action == action:
                if c.pattern.search(text):
                    return c
        return None

    def check_prompt(self, text: str, where: str = "") -> None:
        """Raise Refused if a refusing rule matches the user's text."""
        hit = self._matching(text, "prompt", "refuse")
        if hit:
            log.info("moderation rule %s refused a prompt in %s", hit.rule.id, where)
            log.debug("refused prompt text: %r", text)
            raise Refused(hit.rule)

    def check_output(self, text: str, where: str = "") -> None:
        hit = self._matching(text, "output", "refuse")
        if hit:
            log.info("moderation rule %s stopped a reply in %s", hit.rule.id, where)
            raise Refused(hit.rule)

    def redact(self, text: str) -> str:
        for c in self.rules:
            if c.rule.applies_to in ("output", "both") and c.rule.action == "redact":
                text = c.pattern.sub(REDACTED, text)
        return text

    def _stable_cut(self, raw: str) -> int:
        """A cut at a space, HOLD_BACK before the end, outside every redaction match."""
        cut = raw.rfind(" ", 0, max(0, len(raw) - HOLD_BACK))
        spans = [
            m.span()
            for c in self.rules
            if c.rule.action == "redact" and c.rule.applies_to != "prompt"
            for m in c.pattern.finditer(raw)
        ]
        moved = True
        while moved and cut > 0:
            moved = False
            for start, end in spans:
                if start < cut < end:
                    cut, moved = raw.rfind(" ", 0, start + 1), True
        return cut

    @property
    def active(self) -> bool:
        return bool(self.rules)

    async def filter_stream(
        self, pieces: AsyncIterator[str], where: str = ""
    ) -> AsyncIterator[str]:
        """Redact output as it streams; a refusing match stops the reply (raises Refused).

        The concatenation of what it yields equals `redact(full text)` as long as no match
        is longer than HOLD_BACK characters.
        """
        if not self.active:
            async for piece in pieces:
                yield piece
            return
        raw = ""
        sent = 0  # characters of redacted output already yielded
        async for piece in pieces:
            raw += piece
            self.check_output(raw, where)
            cut = self._stable_cut(raw)
            if cut <= 0:
                continue
            stable = self.redact(raw[:cut])
            if len(stable) > sent:
                yield stable[sent:]
                sent = len(stable)
        final = self.redact(raw)
        if len(final) > sent:
            yield final[sent:]
