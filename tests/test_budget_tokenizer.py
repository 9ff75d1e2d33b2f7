"""The tokenizer a remote backend counts prompt budgets with."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.chat.prompt import MessageTooLong, Turn, build_prompt
from core.errors import ModelUnavailable
from core.text.budget_tokenizer import EstimatingTokenizer, load_budget_tokenizer


def test_a_model_name_that_is_no_tokenizer_falls_back_to_an_estimate_that_errs_long(
    tiny_text_dir: Path,
) -> None:
    estimate = load_budget_tokenizer("", "llama3.2:1b")  # an Ollama name, not a hub id
    assert isinstance(estimate, EstimatingTokenizer)
    exact = load_budget_tokenizer("", str(tiny_text_dir))
    words = "the sun and the moon " * 20
    real = build_prompt(exact, "persona", [], Turn("user", words), 4096)
    guessed = build_prompt(estimate, "persona", [], Turn("user", words), 4096)
    assert len(guessed.ids) > len(real.ids)  # never under-counts this plain text
    assert guessed.messages == real.messages  # the server gets the same conversation
    with pytest.raises(MessageTooLong):
        build_prompt(estimate, "persona", [], Turn("user", words), 64)


def test_a_named_tokenizer_that_does_not_load_is_an_error_not_a_guess() -> None:
    with pytest.raises(ModelUnavailable, match=r"\[text\] tokenizer"):
        load_budget_tokenizer("./no/such/tokenizer", "whatever")
