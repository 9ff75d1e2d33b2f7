"""Where the next token is chosen: greedy argmax, or temperature + top-p sampling.

The warpers are transformers' own (the same ones `generate` uses), built once per request.
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

from core.text.request import Sequence

__all__ = ["sample"]


def sample(seq: Sequence, logits: torch.Tensor) -> int:
    """Next token for one row; `logits` is (1, vocab)."""
    if seq.gen.temperature <= 0:
        return int(logits.argmax(dim=-1).item())
    if seq.warpers is None:
        seq.warpers = LogitsProcessorList(
            [TemperatureLogitsWarper(seq.gen.temperature), TopPLogitsWarper(seq.gen.top_p)]
        )
    ids = torch.tensor([seq.context], device=logits.device)
    scores = seq.warpers(ids, logits.float())
    probs = torch.softmax(scores, dim=-1)
    return int(torch.multinomial(probs, 1, generator=seq.generator).item())
