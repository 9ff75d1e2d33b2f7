"""LoRA personas: PEFT adapters loaded next to the chat model, chosen per request.

Every adapter of `[[text.adapters]]` is loaded once into one `PeftModel`. PEFT's mixed
adapter batches (`adapter_names=` in forward and generate, `"__base__"` for rows without
one) let requests with different adapters, and without any, share one decode batch; so
the engine never groups requests by adapter, it only passes one name per row.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.errors import ModelUnavailable
from core.text.settings import BASE_ADAPTER, AdapterEntry

__all__ = ["BASE_ADAPTER", "attach", "row_names"]


def attach(model: Any, entries: list[AdapterEntry]) -> Any:
    """Wrap `model` in a PeftModel holding every adapter (inference only)."""
    from peft import PeftModel  # deferred: only configs with adapters pay for the import

    wrapped: Any = None
    for entry in entries:
        try:
            if wrapped is None:
                wrapped = PeftModel.from_pretrained(
                    model, entry.path, adapter_name=entry.name, is_trainable=False
                )
            else:
                wrapped.load_adapter(entry.path, adapter_name=entry.name, is_trainable=False)
        except (OSError, ValueError) as exc:  # missing folder or repo, wrong base model
            raise ModelUnavailable(
                f"[text] adapters: '{entry.name}' could not be loaded from {entry.path!r} "
                f"({type(exc).__name__}: {exc}); give a PEFT adapter folder or hub id made "
                "for this [text] model"
            ) from exc
    return wrapped.eval() if wrapped is not None else model


def row_names(adapters: Iterable[str | None]) -> list[str]:
    """PEFT's `adapter_names`: one per batch row, the base model as `"__base__"`."""
    return [name or BASE_ADAPTER for name in adapters]
