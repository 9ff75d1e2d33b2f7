"""Shared fixtures for the attachment tests: the tiny random LLaVA (built once a session),
a vision engine on the text engine's arbiter, and a probe on the model's inputs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from core.text.engine import TextEngine
from core.text.tiny_vision import build_tiny_vision_model
from core.text.vision import VisionEngine
from core.text.vision_settings import VisionSettings

__all__ = ["ModelInputs", "model_inputs", "tiny_vision_dir", "vision_engine"]


@pytest.fixture(scope="session")
def tiny_vision_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_vision_model(tmp_path_factory.getbasetemp() / "tiny-vision-v1")


@pytest.fixture
async def vision_engine(
    tiny_vision_dir: Path, text_engine: TextEngine
) -> AsyncIterator[VisionEngine]:
    settings = VisionSettings(model=str(tiny_vision_dir), max_new_tokens=8)
    engine = VisionEngine(settings, text_engine.arbiter)  # one device, one arbiter
    await engine.load()
    yield engine


class ModelInputs:
    """What the vision model's `generate()` was called with (transformers encodes the
    pictures inside generate, so its forward passes see image features, not pixels)."""

    def __init__(self, model: Any) -> None:
        self.calls: list[dict[str, Any]] = []
        self._generate = model.generate

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(dict(kwargs))
        return self._generate(**kwargs)

    @property
    def pixel_values(self) -> list[torch.Tensor]:
        return [c["pixel_values"] for c in self.calls if c.get("pixel_values") is not None]


@pytest.fixture
def model_inputs(vision_engine: VisionEngine) -> Iterator[ModelInputs]:
    probe = ModelInputs(vision_engine.model)
    vision_engine.model.generate = probe
    yield probe
    del vision_engine.model.generate
