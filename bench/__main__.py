"""`make bench` / `python -m bench`: each figure as a ratio against its baseline, plus absolutes."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
from typing import Any

TARGETS = {"concurrency": 0.35, "prefix": 0.15}


def line(name: str, fig: dict[str, Any]) -> str:
    if name == "loop":
        worst, target = fig["worst_stall_ms"], fig["target_ms"]
        return f"loop: worst stall {worst:.1f} ms (target <= {target:.0f} ms)"
    if name == "concurrency":
        detail = f"batched {fig['batched_s']:.2f} s, serial {fig['serial_s']:.2f} s"
        if len(fig["runs"]) > 1:
            each = ", ".join(f"{r['ratio']:.2f}x" for r in fig["runs"])
            detail = f"median of {len(fig['runs'])} runs: {each}; {detail}"
    elif name == "prefix":
        detail = (
            f"cached {fig['warm_ttft_s'] * 1000:.0f} ms, cold {fig['cold_ttft_s'] * 1000:.0f} ms "
            f"time to first token, {fig['history_tokens']} tokens of history"
        )
    elif name == "images":
        detail = f"batched {fig['batched_s']:.2f} s, serial {fig['serial_s']:.2f} s"
    else:
        detail = ""
    target = f", target <= {TARGETS[name]}x" if name in TARGETS else ""
    return f"{name}: {fig['ratio']:.2f}x ({detail}{target})"


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench import text
    from bench.models import build_bench_text_model, default_bench_dir

    results: dict[str, Any] = {}
    want = set(args.only.split(",")) if args.only else {"concurrency", "prefix", "loop", "images"}
    if want & {"concurrency", "prefix", "loop"}:
        model = args.model or str(
            await asyncio.to_thread(build_bench_text_model, default_bench_dir())
        )
        engine = await text.load_engine(model)
        if want & {"concurrency", "loop"}:
            results.update(await text.concurrency(engine, repeats=args.repeats))
        if "prefix" in want:
            results.update(await text.prefix(engine))
        await engine.arbiter.close()
    if "images" in want:
        from bench.bench_images import run_images_bench

        results["images"] = await asyncio.to_thread(run_images_bench)
    return {k: v for k, v in results.items() if k in want}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--model", help="text model id or path (default: random 135M Llama)")
    parser.add_argument("--only", help="comma-separated: concurrency,prefix,loop,images")
    parser.add_argument(
        "--repeats", type=int, default=3, help="concurrency runs; the median is reported"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of lines")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    results = asyncio.run(run(args))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, fig in results.items():
            print(line(name, fig))


if __name__ == "__main__":
    main()
