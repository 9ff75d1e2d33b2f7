"""[text] quantization: weight-only int8 / int4 through torchao's `quantize_`, at load.

Weight-only: the linear layers' weights are stored quantized and dequantized inside the
matmul, activations and the KV cache stay in the model's dtype, so batching and the prefix
cache (core/text/kv.py) see the same cache tensors as before. torchao rather than
bitsandbytes because its int8 path runs on the CPU as well as on CUDA.

int4 uses torchao's tinygemm layout (`tile_packed_to_4d`), a CUDA kernel for bfloat16
activations; elsewhere `int4_problem` says why not, before any weight is touched.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = ["Quantization", "int4_problem", "quantize"]

Quantization = Literal["none", "int8", "int4"]
INT4_GROUP_SIZE = 128  # torchao's default; layers whose width it does not divide stay as-is


def int4_problem(device: torch.device, dtype: torch.dtype) -> str | None:
    """Why int4 weight-only cannot run here (None if it can)."""
    if device.type != "cuda":
        return (
            f"quantization = 'int4' needs a CUDA GPU (torchao's int4 weight-only kernel is "
            f"CUDA-only) but the model is on {device.type}; use 'int8' or 'none'"
        )
    if dtype != torch.bfloat16:
        return (
            f"quantization = 'int4' needs dtype bfloat16 (torchao's int4 kernel), not "
            f"{str(dtype).removeprefix('torch.')}; set [text] dtype = 'bfloat16'"
        )
    return None


def quantize(model: torch.nn.Module, mode: Quantization) -> torch.nn.Module:
    """Quantize `model`'s linear weights in place (already on its device); returns it."""
    if mode == "none":
        return model
    # Deferred: torchao is imported only by those who ask for quantization.
    from torchao.quantization import Int4WeightOnlyConfig, Int8WeightOnlyConfig, quantize_

    if mode == "int8":
        config: object = Int8WeightOnlyConfig()
    else:
        # set_inductor_config=False: Muse does not compile; leave global torch settings be.
        config = Int4WeightOnlyConfig(
            group_size=INT4_GROUP_SIZE,
            int4_packing_format="tile_packed_to_4d",
            set_inductor_config=False,
        )
    quantize_(model, config)  # type: ignore[arg-type]
    return model
