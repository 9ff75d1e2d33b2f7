"""Tensor surgery on transformers' DynamicCache for batching and prefix reuse, and a cache
layer that grows without copying itself every decode step.

Rows of a batch are left-padded to a common length; an attention mask marks the pads.
Only plain full-attention layers are supported (what Llama/Qwen2-style models use);
`supports()` tells the engine when to fall back to one request at a time.

Internals touched: the layers' `keys`/`values` tensors and `DynamicLayer` itself (the
public per-layer cache API). Nothing else of a layer is read: dtype and device come from
the tensors. The engine checks this path against `model.generate` at load
(core/text_check.py) and falls back to plain `generate` if a release breaks it.
"""

from __future__ import annotations

import inspect

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


class RoomyLayer(DynamicLayer):
    """A full-attention layer that appends into spare room instead of re-concatenating.

    DynamicLayer.update copies the whole cache on every step (torch.cat): for 8 rows of
    250 tokens on a 135M model that is ~70 MB a step, a sixth of a CPU decode step. Here
    `keys`/`values` are views into buffers with room to grow, so a step writes one column.
    Anything that replaces `keys`/`values` (the surgery below, `crop`) is noticed and the
    next update moves the new tensors into a fresh buffer.
    """

    def __init__(self) -> None:
        super().__init__()
        self._buffers: tuple[torch.Tensor, torch.Tensor] | None = None
        self._views: tuple[torch.Tensor, torch.Tensor] | None = None

    @classmethod
    def adopt(cls, layer: DynamicLayer) -> RoomyLayer:
        roomy = cls()
        if layer.is_initialized:
            # The library's own initializer sets whatever fields its release has.
            roomy.lazy_initialization(layer.keys, layer.values)
            roomy.keys, roomy.values = layer.keys, layer.values
        return roomy

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: object, **kwargs: object
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        used = self.get_seq_length()
        end = used + key_states.shape[-2]
        if not self._fits(key_states, end):
            self._regrow(key_states, value_states, used, end)
        assert self._buffers is not None
        kbuf, vbuf = self._buffers
        kbuf[:, :, used:end] = key_states
        vbuf[:, :, used:end] = value_states
        self.keys, self.values = kbuf[:, :, :end], vbuf[:, :, :end]
        self._views = (self.keys, self.values)
        return self.keys, self.values

    def _fits(self, new: torch.Tensor, end: int) -> bool:
        if self._buffers is None or self._views is None:
            return False
        if self.keys is not self._views[0] or self.values is not self._views[1]:
            return False  # replaced from outside
        buf = self._buffers[0]
        return buf.shape[2] >= end and buf.shape[:2] == new.shape[:2]

    def _regrow(self, k_new: torch.Tensor, v_new: torch.Tensor, used: int, end: int) -> None:
        room = end + min(max(64, end // 4), 256)  # amortizes the copy, bounds the slack
        rows, heads = k_new.shape[:2]
        kbuf = k_new.new_empty((rows, heads, room, k_new.shape[3]))
        vbuf = v_new.new_empty((rows, heads, room, v_new.shape[3]))
        if used:
            kbuf[:, :, :used] = self.keys
            vbuf[:, :, :used] = self.values
        self._buffers = (kbuf, vbuf)


def make_roomy(cache: DynamicCache) -> None:
    """Switch a cache that will be decoded step by step to RoomyLayers (in place)."""
    cache.layers = [
        layer if isinstance(layer, RoomyLayer) else RoomyLayer.adopt(layer)  # type: ignore[arg-type]
        for layer in cache.layers
    ]


def cache_keyword(model: object) -> str:
    """The forward() keyword for the cache: `cache` on new releases, `past_key_values` before."""
    params = inspect.signature(model.forward).parameters  # type: ignore[attr-defined]
    return "cache" if "cache" in params else "past_key_values"


def supports(cache: DynamicCache) -> bool:
    return all(type(layer) is DynamicLayer for layer in cache.layers)


def length(cache: DynamicCache) -> int:
    return cache.get_seq_length()


def _pad(t: torch.Tensor, n: int) -> torch.Tensor:
    if n == 0:
        return t
    pad = t.new_zeros((*t.shape[:2], n, t.shape[3]))
    return torch.cat([pad, t], dim=2)


def _set(cache: DynamicCache, kv: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    for layer, (k, v) in zip(cache.layers, kv, strict=True):
        layer.keys, layer.values = k, v


def _pairs(cache: DynamicCache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(layer.keys, layer.values) for layer in cache.layers]


def merge(
    a: DynamicCache, mask_a: torch.Tensor, b: DynamicCache, mask_b: torch.Tensor
) -> torch.Tensor:
    """Append b's rows to a (in place), left-padding the shorter; returns the merged mask."""
    la, lb = mask_a.shape[1], mask_b.shape[1]
    target = max(la, lb)
    merged = [
        (
            torch.cat([_pad(ka, target - la), _pad(kb, target - lb)], dim=0),
            torch.cat([_pad(va, target - la), _pad(vb, target - lb)], dim=0),
        )
        for (ka, va), (kb, vb) in zip(_pairs(a), _pairs(b), strict=True)
    ]
    _set(a, merged)
    pad_a = mask_a.new_zeros((mask_a.shape[0], target - la))
    pad_b = mask_b.new_zeros((mask_b.shape[0], target - lb))
    return torch.cat([torch.cat([pad_a, mask_a], 1), torch.cat([pad_b, mask_b], 1)], 0)


def select(cache: DynamicCache, mask: torch.Tensor, rows: list[int]) -> torch.Tensor:
    """Keep only `rows` (in place) and drop columns that are padding in every kept row."""
    index = torch.tensor(rows, device=mask.device)
    mask = mask.index_select(0, index)
    live = mask.any(dim=0).nonzero()
    start = int(live[0]) if len(live) else mask.shape[1]
    _set(
        cache,
        [
            (k.index_select(0, index)[:, :, start:], v.index_select(0, index)[:, :, start:])
            for k, v in _pairs(cache)
        ],
    )
    return mask[:, start:]


def extract_row(cache: DynamicCache, mask: torch.Tensor, row: int, config: object) -> DynamicCache:
    """A batch-1 copy of one row without its padding (for the prefix cache)."""
    start = int(mask[row].nonzero()[0])
    out = DynamicCache(config=config)  # type: ignore[arg-type]
    for layer, (k, v) in zip(out.layers, _pairs(cache), strict=True):
        k, v = k[row : row + 1, :, start:], v[row : row + 1, :, start:]
        # One copy: update() would cat the clone onto an empty tensor, a second full copy.
        layer.lazy_initialization(k, v)
        layer.keys, layer.values = k.clone(), v.clone()
    return out


def crop(cache: DynamicCache, keep: int) -> None:
    """Keep the first `keep` positions."""
    _set(cache, [(k[:, :, :keep], v[:, :, :keep]) for k, v in _pairs(cache)])


def nbytes(cache: DynamicCache) -> int:
    return sum(k.numel() * k.element_size() * 2 for k, _ in _pairs(cache) if k is not None)
