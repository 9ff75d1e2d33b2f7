"""Config field types shared by the engines ([text] and [image]): which device, which dtype."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

__all__ = ["Device", "Dtype", "check_dtype_for_device"]

# What torch.device accepts and Muse can run on; checked without importing torch, so that
# `muse check-config` stays fast.
_DEVICE = re.compile(r"auto|cpu|mps|(cuda|xpu)(:\d+)?")


def _device(value: str) -> str:
    if not _DEVICE.fullmatch(value):
        raise ValueError("must be auto, cpu, mps, cuda or cuda:N (e.g. cuda:1)")
    return value


def check_dtype_for_device(device: str, dtype: str) -> None:
    """Combinations that cannot run: float16 on the CPU lacks kernels for generation."""
    if device == "cpu" and dtype == "float16":
        raise ValueError("dtype float16 needs a GPU; on the CPU use float32 or bfloat16")


Device = Annotated[
    str,
    AfterValidator(_device),
    Field(description="auto (CUDA, then MPS, then CPU), or e.g. cuda:1, cpu"),
]
Dtype = Annotated[
    Literal["auto", "float32", "bfloat16", "float16"],
    Field(description="auto = bf16/fp16 on CUDA, fp32 on CPU"),
]
