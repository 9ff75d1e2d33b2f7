"""[vision]: the vision-language model that answers messages carrying pictures."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from core.runtime.settings import Device, Dtype

__all__ = ["DEFAULT_VISION_MODEL", "VisionSettings"]

DEFAULT_VISION_MODEL = "HuggingFaceTB/SmolVLM-256M-Instruct"


class VisionSettings(BaseModel):
    """[vision] — the vision-language model that looks at pictures people post."""

    model_config = ConfigDict(extra="forbid", strict=True)

    enabled: bool = Field(
        True, description="load a vision model; off: Muse says it cannot see pictures"
    )
    model: str = Field(
        DEFAULT_VISION_MODEL,
        description="Hugging Face id or local folder of an image-text-to-text model "
        "(AutoModelForImageTextToText with a processor and a chat template)",
    )
    device: Device = "auto"
    dtype: Dtype = "auto"
    max_new_tokens: int = Field(
        256, ge=1, le=8192, description="longest reply about pictures, in tokens"
    )
    prompt_tokens: int = Field(
        4096,
        ge=64,
        le=1_000_000,
        description="token budget of a prompt with pictures (their image tokens included); "
        "oldest turns drop first",
    )
    max_pictures: int = Field(
        4, ge=1, le=16, description="most pictures one prompt shows the model (newest first)"
    )
