"""[files]: limits on the files people post with a message."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FileSettings"]

MB = 1024 * 1024


class FileSettings(BaseModel):
    """[files] — pictures and documents posted with a message: limits and timeouts."""

    model_config = ConfigDict(extra="forbid", strict=True)

    enabled: bool = Field(True, description="read files and pictures posted with a message")
    max_files: int = Field(4, ge=1, le=10, description="most files read from one message")
    max_file_mb: float = Field(
        20.0, gt=0, le=1024, description="largest file downloaded, in MB (bigger ones are refused)"
    )
    max_pdf_pages: int = Field(20, ge=1, le=2000, description="PDF pages read, from the first")
    max_file_tokens: int = Field(
        1500,
        ge=16,
        le=1_000_000,
        description="tokens of file text put into one prompt (all files together; "
        "never more than half of [text] prompt_tokens); the rest is cut and the reply says so",
    )
    max_image_megapixels: float = Field(
        40.0,
        gt=0,
        le=500,
        description="larger pictures are refused before they are decoded (decompression bombs)",
    )
    vision_megapixels: float = Field(
        1.0,
        gt=0,
        le=50,
        description="pictures are scaled down to at most this many megapixels before the "
        "vision model's processor sees them",
    )
    download_timeout_seconds: float = Field(
        20.0, gt=0, le=600, description="time allowed for downloading one file"
    )
    cache_mb: int = Field(
        64,
        ge=0,
        le=100_000,
        description="downloaded pictures kept in memory for follow-up questions (0 = none); "
        "evicted ones are fetched again from the platform",
    )

    @property
    def max_bytes(self) -> int:
        return int(self.max_file_mb * MB)
