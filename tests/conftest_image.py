"""Shared fixtures for image tests: the tiny pipeline (built once a session) and an engine.

Import them into a test module with `from tests.conftest_image import *`, or register the
module once from tests/conftest.py with `pytest_plugins = ["tests.conftest_image"]`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from core.image.engine import ImageEngine
from core.image.options import ImageSettings
from core.image.tiny import build_tiny_pipeline
from core.runtime.device import DeviceArbiter

__all__ = ["image_engine", "image_settings", "tiny_image_dir"]


@pytest.fixture(scope="session")
def tiny_image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A fixed path under the session's temp root: modules that import this fixture each
    # get their own copy of it, and the second one finds the pipeline already built.
    return build_tiny_pipeline(tmp_path_factory.getbasetemp() / "tiny-image-v1")


@pytest.fixture
def image_settings(tiny_image_dir: Path) -> ImageSettings:
    return ImageSettings(model=str(tiny_image_dir), width=64, height=64, steps=2, batch_window_ms=0)


@pytest.fixture
async def image_engine(image_settings: ImageSettings) -> AsyncIterator[ImageEngine]:
    arbiter = DeviceArbiter()
    engine = ImageEngine(image_settings, arbiter)
    await engine.load()
    yield engine
    await engine.close()
    await arbiter.close()
