"""Config fields shared by the engines: which device, which dtype."""

from __future__ import annotations

from dataclasses import field
from typing import Any


def device_field() -> Any:
    """[text] and [image] device: which accelerator a model loads on."""
    return field(
        default="auto", metadata={"doc": "auto (CUDA, then MPS, then CPU), or e.g. cuda:1, cpu"}
    )


def dtype_field() -> Any:
    return field(
        default="auto",
        metadata={
            "doc": "auto = bf16/fp16 on CUDA, fp32 on CPU",
            "choices": ["auto", "float32", "bfloat16", "float16"],
        },
    )
