from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from core.chat.prompt import MessageTooLong, Turn, build_prompt, count_tokens


@pytest.fixture(scope="module")
def tokenizer(tiny_text_dir: Path):  # type: ignore[no-untyped-def]
    return AutoTokenizer.from_pretrained(tiny_text_dir)


def history(n: int) -> list[Turn]:
    return [
        Turn("user" if i % 2 == 0 else "assistant", f"turn {i} the river is calm", "ann")
        for i in range(n)
    ]


def test_chat_template_applied_with_names(tokenizer) -> None:  # type: ignore[no-untyped-def]
    p = build_prompt(tokenizer, "be kind", history(2), Turn("user", "hello", "bob"), 10_000)
    assert p.text.startswith("<|im_start|>system\nbe kind<|im_end|>")
    assert "<|im_start|>user\nbob: hello<|im_end|>" in p.text
    assert p.text.endswith("<|im_start|>assistant\n")
    assert p.history_used == 2 and p.history_dropped == 0
    assert p.ids == tokenizer(p.text, add_special_tokens=False)["input_ids"]


def test_budget_respected_oldest_dropped_first_in_chunks(tokenizer) -> None:  # type: ignore[no-untyped-def]
    turns = history(40)
    new = Turn("user", "what now", "bob")
    full = build_prompt(tokenizer, "sys", turns, new, 100_000)
    budget = len(full.ids) // 2
    p = build_prompt(tokenizer, "sys", turns, new, budget, chunk_turns=4)
    assert len(p.ids) <= budget
    assert p.history_dropped % 4 == 0 and p.history_dropped > 0
    assert p.history_used + p.history_dropped == 40
    # What survives is the newest turns, and the system prompt is always kept.
    assert "turn 39 " in p.text and "turn 0 " not in p.text
    assert p.text.startswith("<|im_start|>system\nsys<|im_end|>")
    # A bigger budget keeps at least as much history.
    q = build_prompt(tokenizer, "sys", turns, new, budget + 40, chunk_turns=4)
    assert q.history_used >= p.history_used


def test_prefix_stable_across_turns_with_chunked_trim(tokenizer) -> None:  # type: ignore[no-untyped-def]
    turns = history(30)
    budget = count_tokens(
        tokenizer, build_prompt(tokenizer, "s", turns[:20], Turn("user", "x"), 10**6).text
    )
    drops = [
        build_prompt(tokenizer, "s", turns[: 20 + k], Turn("user", "x"), budget, 8).history_dropped
        for k in range(0, 8, 2)
    ]
    assert len(set(drops)) < len(drops)  # the same cut is reused over several turns


def test_system_prompt_kept_even_when_all_history_must_go(tokenizer) -> None:  # type: ignore[no-untyped-def]
    new = Turn("user", "hello", "bob")
    minimal = build_prompt(tokenizer, "sys", [], new, 10_000)
    p = build_prompt(tokenizer, "sys", history(10), new, len(minimal.ids))
    assert p.history_used == 0 and "sys" in p.text


def test_message_too_long_is_a_clear_refusal(tokenizer) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MessageTooLong, match="limit is 50"):
        build_prompt(tokenizer, "sys", [], Turn("user", "word " * 500), 50)
