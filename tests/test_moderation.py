from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import ConfigError, load_config
from core.chat.service import Muse
from core.fair_use.moderation import REDACTED, Moderator
from core.fair_use.settings import ModerationRule
from tests.helpers import RecordingReply, msg

RULES = [
    ModerationRule(
        id="no-spam", words=["buy now", "casino"], applies_to="prompt", message="No ads here."
    ),
    ModerationRule(id="phone", regex=r"\+?\d[\d -]{7,}\d", applies_to="output", action="redact"),
]


def test_prompt_rule_refuses_with_its_message() -> None:
    mod = Moderator(RULES)
    with pytest.raises(Exception, match=r"No ads here\."):
        mod.check_prompt("Best CASINO in town")
    mod.check_prompt("casinos are a word, not the word")  # whole words only


async def test_stream_redaction_matches_full_redaction() -> None:
    mod = Moderator(RULES)
    text = "call me at +1 555 123 4567 tomorrow, or at 555-987-6543 " * 5

    async def pieces():  # type: ignore[no-untyped-def]
        for i in range(0, len(text), 3):
            yield text[i : i + 3]

    out = "".join([p async for p in mod.filter_stream(pieces())])
    assert out == mod.redact(text)
    assert "555" not in out and REDACTED in out


async def test_refusal_in_chat_logs_rule_id_not_text(muse: Muse, caplog) -> None:  # type: ignore[no-untyped-def]
    muse.moderator = Moderator(RULES)
    reply = RecordingReply()
    with caplog.at_level(logging.INFO):
        await muse.handle_message(msg("buy now please"), reply)
    assert reply.last == "No ads here."
    infos = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert any("no-spam" in line for line in infos)
    assert not any("buy now" in line for line in infos)
    assert await muse.memory.recent(msg("").conversation) == []


def test_bad_rules_are_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[[moderation]]\nid = 'x'\nregex = '(unclosed'\n[[moderation]]\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.problems == [
        "[[moderation]] x: regex '(unclosed' is invalid: "
        "missing ), unterminated subpattern at position 0",
        "[[moderation]] entry 1: needs an id (it is what the logs show)",
        "[[moderation]] entry 1: needs words or a regex",
    ]
    # The pattern Muse compiles is the one checked: a flag inside it is refused too.
    with pytest.raises(ValidationError, match="global flags not at the start"):
        ModerationRule(id="y", regex="(?i)casino")
