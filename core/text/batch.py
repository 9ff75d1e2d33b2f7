"""The running decode batch: rows that advance together, one token per forward pass.

Lives on the device thread. Requests join at step boundaries (after their own prefill)
and leave the moment they finish, so nobody waits for the longest request.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache

from core.text import kv, lora
from core.text.request import Sequence
from core.text.sampling import sample


class Batch:
    def __init__(self, model: Any, device: torch.device, *, lora: bool = False) -> None:
        self.model = model
        self.device = device
        self.lora = lora  # a PeftModel: every forward names each row's adapter
        # A PeftModel's forward takes **kwargs: ask the model it wraps for the cache keyword.
        self.cache_keyword = kv.cache_keyword(model.get_base_model() if lora else model)
        self.rows: list[Sequence] = []
        self.cache: DynamicCache | None = None
        self.mask: torch.Tensor | None = None  # (rows, cache length): 1 = real token

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, seqs: list[Sequence], cache: DynamicCache, mask: torch.Tensor) -> None:
        """Join rows whose prompts were prefilled into `cache` (mask marks their pads)."""
        if self.cache is None or self.mask is None:
            kv.make_roomy(cache)
            self.cache, self.mask = cache, mask
        else:
            self.mask = kv.merge(self.cache, self.mask, cache, mask)
        self.rows.extend(seqs)

    def remove(self, leaving: list[Sequence]) -> None:
        if not leaving:
            return
        keep = [i for i, s in enumerate(self.rows) if s not in leaving]
        self.rows = [self.rows[i] for i in keep]
        if not keep:
            self.cache, self.mask = None, None
        elif self.cache is not None and self.mask is not None:
            self.mask = kv.select(self.cache, self.mask, keep)

    def adapter_kwargs(self, rows: list[Sequence]) -> dict[str, list[str]]:
        """PEFT's mixed-adapter batch: `adapter_names`, one per row (none without LoRA)."""
        return {"adapter_names": lora.row_names(s.adapter for s in rows)} if self.lora else {}

    def row_cache(self, seq: Sequence) -> DynamicCache:
        assert self.cache is not None and self.mask is not None
        return kv.extract_row(self.cache, self.mask, self.rows.index(seq), self.model.config)

    @torch.inference_mode()
    def step(self) -> list[int]:
        """One forward pass for every row; returns each row's next token."""
        assert self.cache is not None and self.mask is not None
        last = [s.generated[-1] for s in self.rows]
        inputs = torch.tensor(last, device=self.device).unsqueeze(1)
        positions = torch.tensor([s.position for s in self.rows], device=self.device).unsqueeze(1)
        ones = self.mask.new_ones((len(self.rows), 1))
        self.mask = torch.cat([self.mask, ones], dim=1)
        out = self.model(
            input_ids=inputs,
            attention_mask=self.mask,
            position_ids=positions,
            use_cache=True,
            **{self.cache_keyword: self.cache},
            **self.adapter_kwargs(self.rows),
        )
        logits = out.logits[:, -1, :]
        tokens = [sample(seq, logits[i : i + 1]) for i, seq in enumerate(self.rows)]
        for seq in self.rows:
            seq.steps += 1
        return tokens
