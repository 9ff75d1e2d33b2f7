"""The tokenizer a remote text backend counts prompt budgets with.

The server applies its own chat template, but Muse must still fit persona + history +
message into `[text] prompt_tokens` before sending (the server would refuse, or silently
cut, an over-long prompt). The model's own tokenizer counts exactly and costs a few MB,
no weights: it is loaded with `AutoTokenizer` from `[text] tokenizer`, or from `model`
when that is a hub id or folder. A server's model name that is neither (Ollama's
"llama3.2:1b") falls back to an estimate that errs long (3 characters a token, where
real tokenizers average about 4 for English), so prompts stay within the budget.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from transformers import AutoTokenizer

from core.errors import ModelUnavailable
from core.runtime.models import missing_folder, model_unavailable

__all__ = ["EstimatingTokenizer", "load_budget_tokenizer"]

log = logging.getLogger(__name__)
CHARS_PER_TOKEN = 3


class EstimatingTokenizer:
    """The two calls build_prompt makes, with a character-count estimate. Written by hand:
    no library offers a model-free token estimate with a tokenizer's call shape."""

    chat_template = "estimate"

    def apply_chat_template(
        self, messages: list[dict[str, str]], tokenize: bool = False, **_: Any
    ) -> str:
        # A role marker and separators per message, as real templates add.
        return "".join(f"<{m['role']}>\n{m['content']}\n" for m in messages)

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        # Placeholder ids: a remote backend sends the messages, never these.
        return {"input_ids": [0] * math.ceil(len(text) / CHARS_PER_TOKEN)}


def load_budget_tokenizer(tokenizer: str, model: str) -> Any:
    """`[text] tokenizer` (an error if it does not load), else `model`'s, else the estimate."""
    if tokenizer:
        if (missing := missing_folder(tokenizer, "[text] tokenizer")) is not None:
            raise missing
        try:
            return _with_template(AutoTokenizer.from_pretrained(tokenizer), tokenizer)
        except (OSError, ValueError) as exc:
            raise model_unavailable(tokenizer, "[text] tokenizer", exc) from exc
    try:
        return _with_template(AutoTokenizer.from_pretrained(model), model)
    except (OSError, ValueError, ModelUnavailable) as exc:
        log.warning(
            "text: no tokenizer for %r (%s); prompt budgets are estimated from characters. "
            "Set [text] tokenizer to the model's hub id or folder to count exactly.",
            model,
            str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__,
        )
        return EstimatingTokenizer()


def _with_template(tok: Any, name: str) -> Any:
    if not getattr(tok, "chat_template", None):
        raise ModelUnavailable(f"tokenizer {name!r} has no chat template to count prompts with")
    return tok
