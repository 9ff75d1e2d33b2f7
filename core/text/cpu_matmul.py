"""On CPU, run a model's linear layers in whichever matrix layout this machine does faster.

nn.Linear computes x @ W.T. With some CPU/BLAS pairs (measured: AMD EPYC with MKL 2024.2)
that kernel is up to 2x slower for a few rows than the same product taken as (W @ x.T).T,
and a few rows is exactly what batched decoding runs every step. Prefill (hundreds of rows)
keeps the standard layout: there, copying the transposed result back costs more than it
saves. Which layout wins depends on the CPU, the BLAS build and the weight's shape, so it is
measured once at load, on the model's own weights, and adopted only where clearly faster.
Small models are left alone: their weights sit in cache, where the difference disappears.
"""

from __future__ import annotations

import logging
import statistics
import time
import types
from collections import defaultdict
from collections.abc import Callable

import torch
from torch import nn

log = logging.getLogger(__name__)

MIN_SAMPLE_BYTES = 32 * 2**20  # below this the weights fit in cache: nothing to gain
SAMPLE_BYTES = 128 * 2**20  # per shape: enough to stream from memory, as a real step does
ROWS = 8  # a typical decode batch
MAX_ROWS = 64
MARGIN = 0.85  # adopt only a clear win
PASSES = 5


def transposed_linear(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """nn.Linear.forward as (W @ x.T).T for decode-sized inputs (2 to MAX_ROWS rows)."""
    rows = x.reshape(-1, self.in_features)
    if not 2 <= rows.shape[0] <= MAX_ROWS:
        return nn.functional.linear(x, self.weight, self.bias)
    out = torch.mm(self.weight, rows.t()).t().contiguous()
    if self.bias is not None:
        out += self.bias
    return out.reshape(*x.shape[:-1], self.out_features)


def plain_linears(model: nn.Module) -> list[nn.Linear]:
    """Linear layers safe to re-route: exact nn.Linear (not quantized subclasses), on CPU."""
    return [
        m
        for m in model.modules()
        if type(m) is nn.Linear
        and m.weight.device.type == "cpu"
        and m.weight.dtype in (torch.float32, torch.bfloat16)
    ]


def use_transposed(layers: list[nn.Linear]) -> None:
    for layer in layers:
        layer.forward = types.MethodType(transposed_linear, layer)  # type: ignore[method-assign]


def _pass(layers: list[nn.Linear], run: Callable[[nn.Linear, torch.Tensor], object]) -> float:
    x = torch.randn(ROWS, layers[0].in_features, dtype=layers[0].weight.dtype)
    start = time.perf_counter()
    for layer in layers:
        run(layer, x)
    return time.perf_counter() - start


def _standard(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return nn.functional.linear(x, layer.weight, layer.bias)


def _ratio(layers: list[nn.Linear]) -> float:
    """Median time of the transposed layout over the standard one, passes alternating so
    that a noisy neighbour on a shared CPU cannot tip the choice by slowing one side."""
    _pass(layers, _standard)  # first touch: weights may still be paged in from disk
    pairs = [(_pass(layers, _standard), _pass(layers, transposed_linear)) for _ in range(PASSES)]
    return statistics.median(t / s for s, t in pairs)


@torch.inference_mode()
def tune(model: nn.Module) -> int:
    """Measure both layouts at decode-batch size, per weight shape (the winner differs:
    a wide vocabulary projection is not a square attention matrix), and route the shapes
    where the transposed one clearly wins. Returns how many layers were routed."""
    groups: dict[tuple[int, ...], list[nn.Linear]] = defaultdict(list)
    for layer in plain_linears(model):
        groups[tuple(layer.weight.shape)].append(layer)
    routed = 0
    for shape, layers in groups.items():
        size = layers[0].weight.numel() * layers[0].weight.element_size()
        if size * len(layers) < MIN_SAMPLE_BYTES:
            continue
        ratio = _ratio(layers[: max(1, SAMPLE_BYTES // size)])
        chosen = ratio < MARGIN
        log.info(
            "cpu matmul: %d x %s weights: (W @ x.T).T takes %.2fx the time of x @ W.T at %d rows"
            " -> %s",
            len(layers),
            "x".join(map(str, shape)),
            ratio,
            ROWS,
            "transposed" if chosen else "standard",
        )
        if chosen:
            use_transposed(layers)
            routed += len(layers)
    return routed
