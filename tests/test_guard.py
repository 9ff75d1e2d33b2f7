"""[guard]: a Llama Guard-style classifier's answers, parsed and mapped to allow/refuse,
with a scripted engine (what the guard model says is set per test) and the real one."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.app import build_guard
from bot.config import Config
from core.chat.service import Muse
from core.fair_use.guard import Guard, GuardRefused, Verdict, parse_verdict
from core.fair_use.settings import GuardSettings
from core.text.engine import TextEngine
from core.text.request import GenerationSettings
from tests.helpers import RecordingReply, msg

SECRET = "tell me how to build the dragon machine"  # words the tiny tokenizer knows


@dataclass
class ScriptedEngine:
    """Stands in for the guard's text engine: answers with the next scripted output."""

    tokenizer: Any
    answers: list[str | Exception]
    asked: list[str] = field(default_factory=list)
    settings: list[GenerationSettings] = field(default_factory=list)

    async def stream(
        self, prompt_ids: list[int], gen: GenerationSettings, cache_key: str | None = None
    ) -> AsyncIterator[str]:
        self.asked.append(self.tokenizer.decode(prompt_ids))
        self.settings.append(gen)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        half = len(answer) // 2
        for piece in (answer[:half], answer[half:]):  # streamed in pieces, like the engine
            yield piece


PARSE = [
    ("safe", Verdict(True)),
    ("  safe\n", Verdict(True)),
    ("unsafe\nS1", Verdict(False, ("S1",))),
    ("unsafe\nS6,S10", Verdict(False, ("S6", "S10"))),
    ("unsafe\nS6, S10\n", Verdict(False, ("S6", "S10"))),
    ("unsafe", Verdict(None)),
    ("unsafe\nviolence", Verdict(None)),
    ("unsafe\nS1\nmore", Verdict(None)),
    ("safe\nS1", Verdict(None)),
    ("I think this is fine", Verdict(None)),
    ("", Verdict(None)),
]


@pytest.mark.parametrize(("output", "verdict"), PARSE)
def test_guard_output_is_parsed(output: str, verdict: Verdict) -> None:
    assert parse_verdict(output) == verdict


ALLOW = None
# (guard output, what is checked, [guard] settings) -> None (allow) or the refusal reasons.
MATRIX: list[tuple[str | Exception, str, dict[str, Any], tuple[str, ...] | None]] = [
    ("safe", "prompt", {}, ALLOW),
    ("safe", "reply", {}, ALLOW),
    ("unsafe\nS1", "prompt", {}, ("S1",)),
    ("unsafe\nS1", "reply", {}, ("S1",)),
    ("unsafe\nS6", "prompt", {"categories": {"S6": "allow"}}, ALLOW),
    ("unsafe\nS6,S1", "reply", {"categories": {"S6": "allow"}}, ("S1",)),
    ("unsafe\nS2", "prompt", {"default": "allow"}, ALLOW),
    ("unsafe\nS2", "prompt", {"default": "allow", "categories": {"S2": "refuse"}}, ("S2",)),
    ("gibberish", "prompt", {}, ALLOW),  # malformed prompt verdict: open by default
    ("gibberish", "reply", {}, ("malformed",)),  # malformed reply verdict: closed by default
    ("unsafe", "reply", {}, ("malformed",)),
    ("", "prompt", {"malformed_prompt": "refuse"}, ("malformed",)),
    ("unsafe\nS1\nS2", "reply", {"malformed_reply": "allow"}, ALLOW),
    (RuntimeError("guard engine down"), "prompt", {}, ALLOW),
    (RuntimeError("guard engine down"), "reply", {}, ("malformed",)),
]


@pytest.mark.parametrize(("output", "what", "changes", "refused"), MATRIX)
async def test_guard_decision_matrix(
    text_engine: TextEngine,
    output: str | Exception,
    what: str,
    changes: dict[str, Any],
    refused: tuple[str, ...] | None,
) -> None:
    engine = ScriptedEngine(text_engine.tokenizer, [output])
    guard = Guard(GuardSettings(model="scripted", **changes), engine)
    check = (
        guard.check_prompt(SECRET, "here")
        if what == "prompt"
        else guard.check_reply(SECRET, "a reply", "here")
    )
    if refused is None:
        await check
    else:
        with pytest.raises(GuardRefused) as caught:
            await check
        assert caught.value.categories == refused
        assert str(caught.value) == "I can't help with that here."
    assert engine.settings[0].temperature == 0  # greedy: a classifier, not a writer
    assert SECRET in engine.asked[0]


def test_category_names_are_checked() -> None:
    with pytest.raises(ValueError, match="categories are named S1, S2"):
        GuardSettings(categories={"violence": "allow"})


async def test_a_refused_prompt_is_answered_privately_and_logged_without_its_text(
    muse: Muse, caplog: pytest.LogCaptureFixture
) -> None:
    engine = ScriptedEngine(muse.text_engine.tokenizer, ["unsafe\nS9"])
    muse.guard = Guard(GuardSettings(model="scripted", check="prompts"), engine)
    reply = RecordingReply()
    with caplog.at_level(logging.DEBUG, logger="core.fair_use.guard"):
        await muse.handle_message(msg(SECRET), reply)
    assert reply.sent == ["I can't help with that here."] and reply.ephemeral == [True]
    assert await muse.memory.recent(msg("").conversation) == []  # nothing stored
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "guard refused a prompt in test:-:c1: S9" in logged and SECRET not in logged
    assert len(engine.asked) == 1  # replies are not checked in this configuration


async def test_a_reply_is_shown_only_after_the_guard_passed_it(muse: Muse) -> None:
    engine = ScriptedEngine(muse.text_engine.tokenizer, ["safe", "safe"])
    muse.guard = Guard(GuardSettings(model="scripted"), engine)
    reply = RecordingReply()
    await muse.handle_message(msg("hello"), reply)
    [shown] = reply.pieces  # one piece: held until the guard had read all of it
    assert len(shown) == 1 and shown[0] in engine.asked[1]
    assert "hello" in engine.asked[0] and "hello" in engine.asked[1]


async def test_a_refused_reply_is_never_shown_or_stored(muse: Muse) -> None:
    engine = ScriptedEngine(muse.text_engine.tokenizer, ["safe", "unsafe\nS1"])
    muse.guard = Guard(GuardSettings(model="scripted"), engine)
    reply = RecordingReply()
    await muse.handle_message(msg("hello"), reply)
    assert reply.last == "I can't help with that here." and reply.ephemeral[-1]
    stored = await muse.memory.recent(msg("").conversation)
    assert [m.role for m in stored] == ["user"]
    assert await muse.generations.all() == []


async def test_same_asks_the_chat_engine_itself(muse: Muse) -> None:
    """The tiny random model's answer is never `safe`: malformed, so prompts pass (open)
    and replies are refused (closed) — through the real engine's stream."""
    config = Config.model_validate({"guard": {"model": "same"}})
    guard = await build_guard(config, muse.text_engine)
    assert guard is not None and guard.engine is muse.text_engine
    muse.guard = guard
    reply = RecordingReply()
    await muse.handle_message(msg("hello"), reply)
    assert reply.last == "I can't help with that here."
    assert [m.role for m in await muse.memory.recent(msg("").conversation)] == ["user"]
