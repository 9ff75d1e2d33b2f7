"""Image benchmark: 4 concurrent /imagine requests (batched into one pipeline call) vs the
same 4 one at a time, on the tiny random pipeline, through the real ImageEngine.

`python -m bench.bench_images` prints `images: 0.XXx (batched A s, serial B s)`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

from core.image.engine import ImageEngine
from core.image.options import ImageSettings, ImagineOptions
from core.image.tiny import build_tiny_pipeline, default_tiny_image_dir
from core.runtime.device import DeviceArbiter


async def _measure(model: str, requests: int, size: int, steps: int, rounds: int) -> dict[str, Any]:
    # No gathering window: it would add the same wait to every serial request.
    settings = ImageSettings(model=model, batch_window_ms=0, max_batch_images=requests)
    engine = ImageEngine(settings, DeviceArbiter())
    await engine.load()
    options = [
        ImagineOptions(f"a lighthouse at dawn, take {i}", seed=i, steps=steps, width=size,
                       height=size, count=1)
        for i in range(requests)
    ]  # fmt: skip
    await engine.generate(options[0])  # warm-up: first-call allocations and kernel choice
    serial, batched = [], []
    calls = engine.pipeline_calls
    for _ in range(rounds):  # best of a few rounds: the machine may be busy with other work
        start = time.perf_counter()
        for o in options:
            await engine.generate(o)
        serial.append(time.perf_counter() - start)
        start = time.perf_counter()
        await asyncio.gather(*(engine.generate(o) for o in options))
        batched.append(time.perf_counter() - start)
    calls_per_round = (engine.pipeline_calls - calls) // rounds
    await engine.arbiter.close()
    return {
        "ratio": min(batched) / min(serial),
        "batched_s": min(batched),
        "serial_s": min(serial),
        "requests": requests,
        "size": f"{size}x{size}",
        "steps": steps,
        "pipeline_calls_per_round": calls_per_round,  # serial requests + 1 batched call
    }


def run_images_bench(
    model: str | None = None, requests: int = 4, size: int = 256, steps: int = 2, rounds: int = 5
) -> dict[str, Any]:
    """Batched vs one-at-a-time seconds for `requests` images; builds the tiny pipeline."""
    if model is None:
        model = str(build_tiny_pipeline(default_tiny_image_dir()))
    return asyncio.run(_measure(model, requests, size, steps, rounds))


def line(fig: dict[str, Any]) -> str:
    return (
        f"images: {fig['ratio']:.2f}x (batched {fig['batched_s']:.2f} s, "
        f"serial {fig['serial_s']:.2f} s; {fig['requests']} requests of {fig['size']}, "
        f"{fig['steps']} steps)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_images", description=__doc__)
    parser.add_argument("--model", help="diffusers model id or path (default: tiny random)")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--requests", type=int, default=4)
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    print(line(run_images_bench(args.model, args.requests, args.size, args.steps)))


if __name__ == "__main__":
    main()
