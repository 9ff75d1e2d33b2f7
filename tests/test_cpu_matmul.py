"""core.text.cpu_matmul: the transposed layout computes what nn.Linear does, and tuning routes
only the weight shapes where it measured a win."""

from __future__ import annotations

import asyncio

import pytest
import torch
from torch import nn

from core.runtime.device import DeviceArbiter
from core.text import cpu_matmul
from core.text.engine import GenerationSettings, TextEngine
from core.text.settings import TextSettings


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(1, 24), (2, 24), (5, 3, 24), (1, 64, 24), (130, 24)])
def test_transposed_linear_matches_nn_linear(bias: bool, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    layer = nn.Linear(24, 40, bias=bias)
    x = torch.randn(*shape)
    expected = layer(x)
    got = cpu_matmul.transposed_linear(layer, x)
    assert got.shape == expected.shape and got.is_contiguous()
    torch.testing.assert_close(got, expected)


class Two(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.wide = nn.Linear(8, 4096, bias=False)  # 128 KiB of weights
        self.square = nn.ModuleList(nn.Linear(8, 8) for _ in range(3))


def test_tuning_routes_only_the_shapes_that_win(monkeypatch: pytest.MonkeyPatch) -> None:
    model = Two()
    monkeypatch.setattr(cpu_matmul, "MIN_SAMPLE_BYTES", 0)
    monkeypatch.setattr(
        cpu_matmul, "_ratio", lambda layers: 0.5 if layers[0].out_features == 4096 else 1.0
    )
    assert cpu_matmul.tune(model) == 1
    assert "forward" in vars(model.wide)
    assert all("forward" not in vars(m) for m in model.square)


def test_small_models_are_left_alone() -> None:
    model = Two()  # far below the size where weights stop fitting in cache
    assert cpu_matmul.tune(model) == 0
    assert all("forward" not in vars(m) for m in model.modules())


def test_measuring_really_times_both_layouts(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(cpu_matmul, "_standard", lambda m, x: calls.append("standard"))
    monkeypatch.setattr(cpu_matmul, "transposed_linear", lambda m, x: calls.append("transposed"))
    ratio = cpu_matmul._ratio([nn.Linear(8, 8)])
    assert ratio > 0
    assert calls.count("transposed") == cpu_matmul.PASSES
    assert calls.count("standard") == cpu_matmul.PASSES + 1  # one warm-up pass


async def test_engine_gives_the_same_greedy_text_in_either_layout(
    text_settings: TextSettings,
) -> None:
    engines = []
    for transposed in (False, True):
        engine = TextEngine(text_settings, DeviceArbiter())
        await engine.load()
        engine.eos_ids = set()
        if transposed:
            cpu_matmul.use_transposed(cpu_matmul.plain_linears(engine.model))
        engines.append(engine)
    gen = GenerationSettings(max_new_tokens=12, temperature=0)
    words = "a lighthouse keeps its light burning for every ship that passes".split()
    prompts = [engines[0].tokenizer(" ".join(words[: 3 + i]))["input_ids"] for i in range(5)]

    async def text(engine: TextEngine, ids: list[int]) -> str:
        return "".join([p async for p in engine.stream(ids, gen)])

    standard = await asyncio.gather(*(text(engines[0], p) for p in prompts))
    transposed = await asyncio.gather(*(text(engines[1], p) for p in prompts))
    assert transposed == standard
    assert all(standard)
