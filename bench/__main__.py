"""`make bench` / `python -m bench`: each figure as a ratio against its baseline, plus absolutes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any

from bot.logs import setup_logging

TARGETS = {"concurrency": 0.35, "prefix": 0.10}
PEER_TARGETS = {"muse_serial": 1.0, "muse_simultaneous": 0.25, "muse_staggered": 0.25}
ALL = ("peers", "concurrency", "loop", "prefix", "limit", "quant", "startup", "images", "platform")
PLATFORM_TARGETS = {"throughput": 3.0}


def peer_lines(fig: dict[str, Any]) -> list[str]:
    from bench.text import PEERS

    head = (
        f"peers: {fig['prompts']} prompts of ~{fig['history_tokens']} tokens, "
        f"{fig['new_tokens']} new tokens each, greedy; median of {len(fig['runs'])} rounds, "
        "ratio to HF generate one at a time (each round's ratios in brackets)"
    )
    out = [head]
    for name, label in PEERS.items():
        each = ", ".join(f"{r[name] / r['hf_serial']:.2f}" for r in fig["runs"])
        target = f", target <= {PEER_TARGETS[name]}x" if name in PEER_TARGETS else ""
        out.append(
            f"  {label:<42} {fig['ratio_to_hf_serial'][name]:.2f}x  "
            f"{fig['seconds'][name]:6.2f} s  [{each}]{target}"
        )
    steps = fig["decode_ms_per_token"]
    out.append(
        f"  single-request decode: Muse {steps['muse_serial']:.1f} ms/token, HF generate "
        f"{steps['hf_serial']:.1f} ms/token: overhead {fig['step_overhead_ms']:+.1f} ms/step "
        "(target < 2 ms)"
    )
    return out


def platform_lines(fig: dict[str, Any]) -> list[str]:
    out = [
        f"platform: `muse run` + Discord stand-in, benchmark model, {fig['new_tokens']} new "
        f"tokens; ready {fig['ready_s']:.1f} s after spawn (models loaded, gateway identified)"
    ]
    for kind, count, what in (("mentions", fig["mentions"], "mentions"), ("images", fig["images"],
                              "/imagine")):  # fmt: skip
        together, serial = fig[f"{kind}_together"], fig[f"{kind}_one_by_one"]
        out.append(
            f"  {count} {what} at once vs one after another: "
            f"{fig[f'{kind}_throughput_ratio']:.2f}x throughput (target >= "
            f"{PLATFORM_TARGETS['throughput']:.0f}x); {together['per_minute']:.1f} vs "
            f"{serial['per_minute']:.1f} per minute ({together['wall_s']:.1f} s vs "
            f"{serial['wall_s']:.1f} s)"
        )
        label = "first visible text" if kind == "mentions" else "picture shown"
        for name, run in (("at once", together), ("one by one", serial)):
            out.append(
                f"    {name:<10} {label} p50 {run['first_p50_s']:.2f} s, p95 "
                f"{run['first_p95_s']:.2f} s; final p50 {run['final_p50_s']:.2f} s, p95 "
                f"{run['final_p95_s']:.2f} s"
            )
    return out


def line(name: str, fig: dict[str, Any]) -> str:
    if name == "platform":
        return "\n".join(platform_lines(fig))
    if name == "peers":
        return "\n".join(peer_lines(fig))
    if name == "loop":
        worst, target = fig["worst_stall_ms"], fig["target_ms"]
        return f"loop: worst stall {worst:.1f} ms (target <= {target:.0f} ms)"
    if name == "limit":
        return (
            f"limit: {fig['ratio']:.2f} of the bandwidth limit for one request "
            f"({fig['single_ms_per_token']:.1f} ms/token vs {fig['floor_ms_per_token']:.1f} ms "
            f"= {fig['weight_mb']:.0f} MB of weights / {fig['bandwidth_gb_s']:.1f} GB/s copy "
            f"bandwidth, target >= 0.6); 8 rows: {fig['batch_ratio']:.2f} "
            f"({fig['batch_tokens_per_s']:.0f} tokens/s with prefill vs "
            f"{fig['batch_limit_tokens_per_s']:.0f} reading the weights once per step)"
        )
    if name == "quant":
        each = ", ".join(f"{r['int8'] / r['none']:.2f}" for r in fig["runs"])
        tps = fig["tokens_per_s"]
        return (
            f"quant: int8 weight-only decodes at {fig['ratio']:.2f}x the unquantized speed "
            f"({tps['int8']:.1f} vs {tps['none']:.1f} tokens/s, one request, median of "
            f"[{each}]); greedy agreement {fig['agreement']:.2f} over {fig['prompts']} prompts "
            f"x {fig['compared_tokens']} tokens ({fig['identical_prompts']}/{fig['prompts']} "
            "identical; random weights, thin margins)"
        )
    if name == "startup":
        each = ", ".join(f"{t:.2f}" for t in fig["runs_s"])
        return f"startup: muse --help {fig['help_s']:.2f} s (median of [{each}] s)"
    if name == "concurrency":
        detail = f"batched {fig['batched_s']:.2f} s, serial {fig['serial_s']:.2f} s"
        if len(fig["runs"]) > 1:
            each = ", ".join(f"{r['ratio']:.2f}x" for r in fig["runs"])
            detail = f"median of {len(fig['runs'])} runs: {each}; {detail}"
    elif name == "prefix":
        each = ", ".join(f"{r['ratio']:.2f}x" for r in fig["runs"])
        detail = (
            f"median of {len(fig['runs'])}: {each}; "
            f"cached {fig['warm_ttft_s'] * 1000:.0f} ms, cold {fig['cold_ttft_s'] * 1000:.0f} ms "
            f"time to first token, {fig['history_tokens']} tokens of history"
        )
    elif name == "images":
        detail = f"batched {fig['batched_s']:.2f} s, serial {fig['serial_s']:.2f} s"
    else:
        detail = ""
    target = f", target <= {TARGETS[name]}x" if name in TARGETS else ""
    return f"{name}: {fig['ratio']:.2f}x ({detail}{target})"


def machine_info() -> dict[str, Any]:
    """What the figures depend on: the CPU, threads, libraries, and how busy the machine was."""
    import platform

    import torch
    import transformers

    cpu = platform.processor()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "load_average": os.getloadavg(),
    }


def machine_line(m: dict[str, Any]) -> str:
    load = ", ".join(f"{x:.1f}" for x in m["load_average"])
    return (
        f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} "
        f"threads), transformers {m['transformers']}; load average at start {load}"
    )


def startup(passes: int = 3) -> dict[str, Any]:
    """Wall time of `muse --help` (imports and argument parsing: what every command pays)."""
    exe = shutil.which("muse", path=os.path.dirname(sys.executable)) or "muse"
    runs = []
    for _ in range(passes):
        start = time.perf_counter()
        subprocess.run([exe, "--help"], check=True, capture_output=True)
        runs.append(time.perf_counter() - start)
    return {"help_s": statistics.median(runs), "runs_s": runs}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench import text
    from bench.models import build_bench_text_model, default_bench_dir

    results: dict[str, Any] = {}
    want = set(args.only.split(",")) if args.only else set(ALL)
    if want & {"peers", "concurrency", "loop", "prefix", "limit", "quant"}:
        model = args.model or str(
            await asyncio.to_thread(build_bench_text_model, default_bench_dir())
        )
    if want & {"peers", "concurrency", "loop", "prefix", "limit"}:
        engine = await text.load_engine(model)
        if want & {"peers", "concurrency", "loop", "limit"}:
            results.update(await text.peers(engine, repeats=args.repeats))
        if "limit" in want:
            results.update(await engine.arbiter.run("text", text.limit, engine, results))
        if "prefix" in want:
            results.update(await text.prefix(engine, repeats=args.repeats))
        await engine.arbiter.close()
    if "quant" in want:
        from bench.quant import quant

        results.update(await quant(model, repeats=args.repeats))
    if "startup" in want:
        results["startup"] = await asyncio.to_thread(startup)
    if "images" in want:
        from bench.bench_images import run_images_bench

        results["images"] = await asyncio.to_thread(run_images_bench)
    if "platform" in want:
        from bench.platform import platform_bench
        from core.image.tiny import build_tiny_pipeline, default_tiny_image_dir

        model = args.model or str(
            await asyncio.to_thread(build_bench_text_model, default_bench_dir())
        )
        image = await asyncio.to_thread(build_tiny_pipeline, default_tiny_image_dir())
        results["platform"] = await platform_bench(model, str(image))
    return {k: results[k] for k in ALL if k in want and k in results}


async def run_backend(args: argparse.Namespace) -> dict[str, Any]:
    """The serving figures through the text backend interface (bench/backend.py)."""
    from bench.backend import backend_bench, open_backend
    from core.text.tiny import build_tiny_text_model, default_tiny_dir

    model = args.model or str(await asyncio.to_thread(build_tiny_text_model, default_tiny_dir()))
    extra = json.loads(args.extra_body) if args.extra_body else {}
    backend = await open_backend(args.backend, model, args.base_url or "", extra)
    try:
        return await backend_bench(backend, repeats=args.repeats)
    finally:
        await backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--model", help="text model id or path (default: random 135M Llama)")
    parser.add_argument(
        "--backend",
        choices=("local", "openai"),
        help="serving figures through Muse's text backend (default model: the tiny one); "
        "openai needs --base-url and --model as the server names it",
    )
    parser.add_argument("--base-url", help="--backend openai: the server's API root (…/v1)")
    parser.add_argument(
        "--extra-body",
        help="--backend openai: JSON fields added to each request, e.g. "
        '\'{"ignore_eos": true}\' (vLLM) so random weights write every token',
    )
    parser.add_argument("--only", help="comma-separated: " + ",".join(ALL))
    parser.add_argument(
        "--repeats", type=int, default=3, help="rounds of each text figure; the median is reported"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of lines")
    parser.add_argument("--save", metavar="PATH", help="also write the JSON (every run) to PATH")
    parser.add_argument(
        "--history",
        metavar="PATH",
        default="bench-runs.jsonl",
        help="append this run (machine, time, every figure) as one JSON line ('' = don't)",
    )
    args = parser.parse_args()
    # The bot's logging, set before the model libraries are imported: their import-time
    # chatter (torchao's skipped kernels) stays out, as in `muse run`.
    setup_logging("warning")
    from bot.app import quiet_model_loading

    quiet_model_loading()
    # generate_batch warns that eos is off: on purpose, every peer generates its full length.
    logging.getLogger("ContinuousBatchingLogger").setLevel(logging.ERROR)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.backend == "openai" and not args.base_url:
        parser.error("--backend openai needs --base-url http://host:port/v1")
    machine = machine_info()
    print(machine_line(machine), flush=True)
    if args.backend:
        from bench.backend import backend_lines

        results = asyncio.run(run_backend(args))
        if args.save:
            with open(args.save, "w", encoding="utf-8") as f:
                json.dump(results, f, indent=2)
        print(json.dumps(results, indent=2) if args.json else "\n".join(backend_lines(results)))
        return
    results = asyncio.run(run(args))
    if args.history:
        record = {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine, **results}
        with open(args.history, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
    if args.save:
        with open(args.save, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, fig in results.items():
            print(line(name, fig))


if __name__ == "__main__":
    main()
