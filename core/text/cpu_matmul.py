"""On CPU, run a model's linear layers in whichever matrix layout this machine does faster.

nn.Linear computes x @ W.T. With some CPU/BLAS pairs (measured: AMD EPYC with MKL 2024.2)
that kernel is up to 2x slower for a few rows than the same product taken as (W @ x.T).T,
and a few rows is exactly what batched decoding runs every step. Prefill (hundreds of rows)
keeps the standard layout: there, copying the transposed result back costs more than it
saves. Which layout wins depends on the CPU, the BLAS build and the weight's shape, so it is
measured on the model's own weights and adopted only where clearly faster. Small models are
left alone: their weights sit in cache, where the difference disappears.

Same choice on every start: a timing taken at load would differ from one start to the next
when the two layouts are close (or a neighbour is busy), and with it the model's numerics.
So each measurement is kept in `cpu_matmul.json` in Muse's cache folder (see
`core.runtime.user_cache`), keyed by CPU model, torch version (which brings its BLAS), thread
count, weight shape and dtype, and a later start reads it instead of timing again. Caching
rather than an opt-in switch: the win is real on the CPUs where it shows, and hiding it
behind a setting would leave most users without it. Delete the file to measure again; a
corrupt or unwritable file only means measuring again, never a failed start.
"""

from __future__ import annotations

import logging
import math
import platform
import statistics
import time
import types
from collections import defaultdict
from collections.abc import Callable
from functools import cache

import torch
from torch import nn

from core.runtime import user_cache

log = logging.getLogger(__name__)

MIN_SAMPLE_BYTES = 32 * 2**20  # below this the weights fit in cache: nothing to gain
SAMPLE_BYTES = 128 * 2**20  # per shape: enough to stream from memory, as a real step does
ROWS = 8  # a typical decode batch
MAX_ROWS = 64
MARGIN = 0.85  # adopt only a clear win
PASSES = 5
CACHE_FILE = "cpu_matmul.json"
CACHE_VERSION = 1  # bump when what is measured changes, so old numbers are not reused

Clock = Callable[[], float]


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


def _pass(
    layers: list[nn.Linear], run: Callable[[nn.Linear, torch.Tensor], object], clock: Clock
) -> float:
    x = torch.randn(ROWS, layers[0].in_features, dtype=layers[0].weight.dtype)
    start = clock()
    for layer in layers:
        run(layer, x)
    return clock() - start


def _standard(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return nn.functional.linear(x, layer.weight, layer.bias)


def _ratio(layers: list[nn.Linear], clock: Clock = time.perf_counter) -> float:
    """Median time of the transposed layout over the standard one, passes alternating so
    that a noisy neighbour on a shared CPU cannot tip the choice by slowing one side."""
    _pass(layers, _standard, clock)  # first touch: weights may still be paged in from disk
    pairs = [
        (_pass(layers, _standard, clock), _pass(layers, transposed_linear, clock))
        for _ in range(PASSES)
    ]
    return statistics.median(t / s for s, t in pairs)


@cache
def cpu_model() -> str:
    """The CPU's model name (what decides which layout wins), as stable as the OS tells it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                field, _, value = line.partition(":")
                if field.strip() in ("model name", "Hardware") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown cpu"


def cache_key(shape: tuple[int, ...], dtype: torch.dtype) -> str:
    return (
        f"{cpu_model()} | torch {torch.__version__} | {torch.get_num_threads()} threads"
        f" | {'x'.join(map(str, shape))} | {str(dtype).removeprefix('torch.')}"
    )


def _read_ratios() -> dict[str, float]:
    data = user_cache.read_json(CACHE_FILE)
    if data.get("version") != CACHE_VERSION or not isinstance(data.get("ratios"), dict):
        return {}
    # An entry that is not a usable ratio is dropped, so its shape is measured again.
    return {
        key: float(value)
        for key, value in data["ratios"].items()
        if isinstance(value, int | float) and not isinstance(value, bool)
        if math.isfinite(value) and value > 0
    }


@torch.inference_mode()
def tune(model: nn.Module) -> int:
    """Measure both layouts at decode-batch size, per weight shape (the winner differs:
    a wide vocabulary projection is not a square attention matrix), or read the earlier
    measurement from the cache, and route the shapes where the transposed one clearly wins.
    Returns how many layers were routed."""
    groups: dict[tuple[tuple[int, ...], torch.dtype], list[nn.Linear]] = defaultdict(list)
    for layer in plain_linears(model):
        groups[tuple(layer.weight.shape), layer.weight.dtype].append(layer)
    ratios: dict[str, float] | None = None  # the cache is read only for models big enough
    fresh: dict[str, float] = {}
    routed = 0
    for (shape, dtype), layers in groups.items():
        size = layers[0].weight.numel() * layers[0].weight.element_size()
        if size * len(layers) < MIN_SAMPLE_BYTES:
            continue
        if ratios is None:
            ratios = _read_ratios()
        key = cache_key(shape, dtype)
        source = "cached"
        if key not in ratios:
            ratios[key] = fresh[key] = _ratio(layers[: max(1, SAMPLE_BYTES // size)])
            source = "measured"
        chosen = ratios[key] < MARGIN
        log.info(
            "cpu matmul: %d x %s weights: (W @ x.T).T takes %.2fx the time of x @ W.T at %d rows"
            " (%s) -> %s",
            len(layers),
            "x".join(map(str, shape)),
            ratios[key],
            ROWS,
            source,
            "transposed" if chosen else "standard",
        )
        if chosen:
            use_transposed(layers)
            routed += len(layers)
    if fresh:
        # Re-read first: another Muse on this machine may have added shapes meanwhile.
        ratios = {**_read_ratios(), **fresh}
        user_cache.write_json(CACHE_FILE, {"version": CACHE_VERSION, "ratios": ratios})
    return routed
