"""core.text.kv: the growable cache layer keeps exactly what concatenation would."""

from __future__ import annotations

import torch
from transformers import DynamicCache, LlamaConfig
from transformers.cache_utils import DynamicLayer

from core.text import kv


def states(rows: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(rows, 2, n, 4, generator=g), torch.randn(rows, 2, n, 4, generator=g)


def caches(rows: int, n: int) -> tuple[DynamicCache, DynamicCache]:
    """The same prefilled cache twice: one plain, one switched to RoomyLayers."""
    plain, roomy = DynamicCache(), DynamicCache()
    plain.layers, roomy.layers = [DynamicLayer()], [DynamicLayer()]
    for c in (plain, roomy):
        c.layers[0].update(*states(rows, n, seed=0))
    kv.make_roomy(roomy)
    return plain, roomy


def same(a: DynamicCache, b: DynamicCache) -> bool:
    (ka, va), (kb, vb) = kv._pairs(a)[0], kv._pairs(b)[0]
    return torch.equal(ka, kb) and torch.equal(va, vb)


def test_appending_step_by_step_matches_concatenation_past_the_spare_room() -> None:
    plain, roomy = caches(rows=3, n=5)
    for step in range(150):  # more than the spare room: the buffer regrows along the way
        new = states(3, 1, seed=step + 1)
        returned = roomy.layers[0].update(*new)
        plain.layers[0].update(*new)
        assert torch.equal(returned[0], plain.layers[0].keys)
    assert same(plain, roomy)
    assert kv.length(roomy) == 155


def test_steps_write_into_the_buffer_instead_of_copying_it() -> None:
    _, roomy = caches(rows=2, n=5)
    layer = roomy.layers[0]
    layer.update(*states(2, 1, seed=1))  # first step moves the cache into a roomy buffer
    storage = layer.keys.untyped_storage().data_ptr()
    for step in range(10):
        layer.update(*states(2, 1, seed=step + 2))
    assert layer.keys.untyped_storage().data_ptr() == storage


def test_surgery_between_steps_is_noticed() -> None:
    plain, roomy = caches(rows=3, n=6)
    for c in (plain, roomy):
        c.layers[0].update(*states(3, 1, seed=1))
    grown = torch.ones(3, 7, dtype=torch.long)
    kv.select(plain, grown, [0, 2])  # a request left the batch
    kv.select(roomy, grown, [0, 2])
    for step in range(3):
        new = states(2, 1, seed=step + 10)
        roomy.layers[0].update(*new)
        plain.layers[0].update(*new)
    assert same(plain, roomy)
    # The longest request left: the columns that were only its history are dropped.
    padded = torch.tensor([[0, 0, 1, 1, 1, 1, 1, 1, 1, 1], [0, 1, 1, 1, 1, 1, 1, 1, 1, 1]])
    assert kv.select(plain, padded, [0, 1]).shape == (2, 9)
    kv.select(roomy, padded, [0, 1])
    new = states(2, 1, seed=50)
    roomy.layers[0].update(*new)
    plain.layers[0].update(*new)
    assert same(plain, roomy)
    kv.crop(plain, 4)
    kv.crop(roomy, 4)
    new = states(2, 2, seed=99)
    roomy.layers[0].update(*new)
    plain.layers[0].update(*new)
    assert same(plain, roomy) and kv.length(roomy) == 6


def test_a_row_taken_for_the_prefix_cache_is_its_own_copy_without_padding() -> None:
    _, roomy = caches(rows=2, n=5)
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    config = LlamaConfig(num_hidden_layers=1, hidden_size=8, num_attention_heads=2)
    row = kv.extract_row(roomy, mask, 0, config)
    keys = kv._pairs(roomy)[0][0]
    assert torch.equal(row.layers[0].keys, keys[0:1, :, 2:]) and kv.length(row) == 3
    keys[0, :, 2:] = 0  # the batch goes on writing its buffers...
    assert not torch.equal(row.layers[0].keys, keys[0:1, :, 2:])  # ...the entry keeps its own
    # and it takes new tokens like any cache layer (the next turn appends to it)
    kv.make_roomy(row)
    row.layers[0].update(*states(1, 2, seed=7))
    assert kv.length(row) == 5
