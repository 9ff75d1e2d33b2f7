"""[text]: the chat model and how it generates."""

from __future__ import annotations

from typing import ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.runtime.settings import Device, Dtype, check_dtype_for_device

__all__ = ["DEFAULT_SYSTEM_PROMPT", "DEFAULT_TEXT_MODEL", "AdapterEntry", "TextSettings"]

DEFAULT_TEXT_MODEL = "Qwen/Qwen2.5-1.5B-Instruct"
DEFAULT_SYSTEM_PROMPT = (
    "You are Muse, a friendly and concise assistant in a group chat. Messages from people "
    "start with their name and a colon. Answer the latest message."
)


# PEFT's name for "no adapter" in a mixed batch: an adapter may not take it.
BASE_ADAPTER = "__base__"


class AdapterEntry(BaseModel):
    """[[text.adapters]] — one LoRA persona: a PEFT adapter folder or hub id, by name."""

    model_config = ConfigDict(extra="forbid", strict=True)
    label_key: ClassVar[str] = "name"

    name: str = Field(description="what /persona set --adapter NAME calls it")
    path: str = Field(description="PEFT adapter folder or Hugging Face hub id")

    @model_validator(mode="after")
    def _usable(self) -> Self:
        if not self.name.strip() or not self.name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"adapter name {self.name!r}: use letters, digits, - and _")
        if self.name == BASE_ADAPTER:
            raise ValueError(f"{BASE_ADAPTER!r} is PEFT's name for the base model")
        if not self.path.strip():
            raise ValueError(f"adapter {self.name!r} needs a path (folder or hub id)")
        return self


class TextSettings(BaseModel):
    """[text] — the chat model and how it generates."""

    # strict: a TOML value has its type already; "512" is not quietly taken for 512.
    model_config = ConfigDict(extra="forbid", strict=True)

    model: str = Field(
        DEFAULT_TEXT_MODEL,
        description="Hugging Face model id or local path of a causal LM with a chat template",
    )
    device: Device = "auto"
    dtype: Dtype = "auto"
    system_prompt: str = Field(
        DEFAULT_SYSTEM_PROMPT, description="default persona; /persona set overrides it per channel"
    )
    max_new_tokens: int = Field(512, ge=1, le=32768, description="longest reply, in tokens")
    prompt_tokens: int = Field(
        3072,
        ge=64,
        le=1_000_000,
        description="token budget for persona + history + new message; oldest turns drop first",
    )
    trim_chunk_turns: int = Field(
        8,
        ge=1,
        le=1000,
        description="history is trimmed this many turns at a time, so the prompt prefix "
        "stays stable (and cacheable) across turns",
    )
    temperature: float = Field(0.7, ge=0.0, le=5.0, description="sampling temperature; 0 = greedy")
    top_p: float = Field(0.9, ge=0.01, le=1.0, description="nucleus sampling threshold")
    max_batch_size: int = Field(
        16,
        ge=1,
        le=256,
        description="most replies decoded together in one forward pass (1 = one at a time)",
    )
    prefix_cache_mb: int = Field(
        512,
        ge=0,
        le=1_000_000,
        description="memory for per-conversation KV caches reused across turns (0 = off)",
    )
    history_messages: int = Field(
        200, ge=0, le=100000, description="most stored messages read back per prompt"
    )

    quantization: Literal["none", "int8", "int4"] = Field(
        "none",
        description="weight-only quantization at load (torchao): int8 anywhere, int4 on CUDA "
        "with bfloat16",
    )
    adapters: list[AdapterEntry] = Field(
        default_factory=list,
        description="LoRA personas: [[text.adapters]] name = ..., path = ... (PEFT adapters)",
    )

    @model_validator(mode="after")
    def _adapters_unique(self) -> Self:
        names = [a.name for a in self.adapters]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"adapters: name(s) used twice: {', '.join(twice)}")
        return self

    @model_validator(mode="after")
    def _quantization_runs_on_device(self) -> Self:
        if self.quantization == "int4" and self.device in ("cpu", "mps"):
            raise ValueError(
                f"quantization = 'int4' needs a CUDA GPU (torchao's int4 weight-only kernels "
                f"are CUDA-only); device = {self.device!r}: use 'int8' or 'none'"
            )
        if self.quantization == "int4" and self.dtype in ("float32", "float16"):
            raise ValueError(
                f"quantization = 'int4' runs in bfloat16 (torchao's int4 kernel); "
                f"dtype = {self.dtype!r}: use 'bfloat16' or 'auto'"
            )
        return self

    @model_validator(mode="after")
    def _dtype_runs_on_device(self) -> Self:
        try:
            check_dtype_for_device(self.device, self.dtype)
        except ValueError as exc:
            raise ValueError(f"dtype = {self.dtype!r}: {exc}") from None
        return self
