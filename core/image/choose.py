"""Build the image backend `[image] backend` names."""

from __future__ import annotations

from typing import Any

from core.image.options import ImageSettings
from core.runtime.device import DeviceArbiter

__all__ = ["make_image_backend"]


def make_image_backend(settings: ImageSettings, arbiter: DeviceArbiter) -> Any:
    """diffusers in-process (ImageEngine), or a ComfyUI server (ComfyUIEngine); both offer
    `load`, `generate(options) -> ImageResult`, `readiness`, `close`."""
    if settings.backend == "comfyui":
        from core.image.comfyui import ComfyUIEngine

        return ComfyUIEngine(settings)
    from core.image.engine import ImageEngine

    return ImageEngine(settings, arbiter)
