"""Config field types shared by the engines ([text] and [image]): which device, which dtype."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

__all__ = ["Device", "Dtype"]

Device = Annotated[str, Field(description="auto (CUDA, then MPS, then CPU), or e.g. cuda:1, cpu")]
Dtype = Annotated[
    Literal["auto", "float32", "bfloat16", "float16"],
    Field(description="auto = bf16/fp16 on CUDA, fp32 on CPU"),
]
