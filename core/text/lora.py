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
    if wrapped is None:
        return model
    wrapped.eval()
    names = [e.name for e in entries]
    # Only LoRA takes one adapter per row; another kind would ignore adapter_names and
    # answer every row of the batch with itself.
    other = {n: str(getattr(t := wrapped.peft_config[n].peft_type, "value", t)) for n in names}
    if bad := {n: t for n, t in other.items() if t != "LORA"}:
        kinds = ", ".join(f"'{n}' is {t.lower()}" for n, t in bad.items())
        raise ModelUnavailable(f"[text] adapters must be LoRA adapters ({kinds})")
    check_mixed(wrapped, names)
    return wrapped


def check_mixed(model: Any, names: list[str]) -> None:
    """One forward with every adapter and the base model in one batch, at load: PEFT
    refuses mixed batches for some adapter kinds, and Muse batches requests regardless of
    their adapter, so such an adapter is a load error rather than a failed request."""
    import torch

    rows = [*names, BASE_ADAPTER]
    ids = torch.zeros((len(rows), 1), dtype=torch.long, device=model.device)
    try:
        with torch.inference_mode():
            model(input_ids=ids, adapter_names=rows)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise ModelUnavailable(
            f"[text] adapters: PEFT cannot serve {', '.join(names)} in one batch with the "
            f"base model ({type(exc).__name__}: {exc}); use LoRA adapters made for this model"
        ) from exc


def row_names(adapters: Iterable[str | None]) -> list[str]:
    """PEFT's `adapter_names`: one per batch row, the base model as `"__base__"`."""
    return [name or BASE_ADAPTER for name in adapters]
