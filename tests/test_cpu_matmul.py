"""core.text.cpu_matmul: the transposed layout computes what nn.Linear does, tuning routes
only the weight shapes where it measured a win, and a later start reuses the measurement."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from core.runtime import user_cache
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


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test starts with its own, empty measurement cache."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(user_cache.ENV, str(folder))
    return folder


def routed(model: Two) -> list[bool]:
    return ["forward" in vars(m) for m in (model.wide, *model.square)]


class FakeRatios:
    """Stands in for the timing: the wide shape wins on the first measurement and loses on
    any later one, so a second start that measured again would choose differently."""

    def __init__(self) -> None:
        self.measured: list[int] = []

    def __call__(self, layers: list[nn.Linear]) -> float:
        self.measured.append(layers[0].out_features)
        if layers[0].out_features != 4096:
            return 1.0
        return 0.5 if self.measured.count(4096) == 1 else 2.0


@pytest.fixture
def fake_ratios(monkeypatch: pytest.MonkeyPatch) -> FakeRatios:
    fake = FakeRatios()
    monkeypatch.setattr(cpu_matmul, "MIN_SAMPLE_BYTES", 0)
    monkeypatch.setattr(cpu_matmul, "_ratio", fake)
    return fake


def test_tuning_routes_only_the_shapes_that_win(fake_ratios: FakeRatios) -> None:
    model = Two()
    assert cpu_matmul.tune(model) == 1
    assert routed(model) == [True, False, False, False]
    assert sorted(fake_ratios.measured) == [8, 4096]  # once per shape, not per layer


def test_small_models_are_left_alone(cache_dir: Path) -> None:
    model = Two()  # far below the size where weights stop fitting in cache
    assert cpu_matmul.tune(model) == 0
    assert all("forward" not in vars(m) for m in model.modules())
    assert not cache_dir.exists()  # nothing measured, nothing written


def test_a_second_start_reads_the_cache_and_does_not_time_again(
    fake_ratios: FakeRatios, cache_dir: Path
) -> None:
    first, second = Two(), Two()
    assert cpu_matmul.tune(first) == 1
    stored = json.loads((cache_dir / cpu_matmul.CACHE_FILE).read_text())
    key = cpu_matmul.cache_key((4096, 8), torch.float32)
    assert stored["ratios"][key] == 0.5 and len(stored["ratios"]) == 2
    assert cpu_matmul.cpu_model() in key and torch.__version__ in key

    assert cpu_matmul.tune(second) == 1
    assert len(fake_ratios.measured) == 2  # no timing on the second start
    assert routed(second) == routed(first) == [True, False, False, False]


def test_another_cpu_or_torch_measures_again(
    fake_ratios: FakeRatios, monkeypatch: pytest.MonkeyPatch, cache_dir: Path
) -> None:
    cpu_matmul.tune(Two())
    monkeypatch.setattr(cpu_matmul, "cpu_model", lambda: "Some Other CPU @ 3.0GHz")
    other = Two()
    assert cpu_matmul.tune(other) == 0  # measured again (and lost, this time)
    assert len(fake_ratios.measured) == 4
    ratios = json.loads((cache_dir / cpu_matmul.CACHE_FILE).read_text())["ratios"]
    assert len(ratios) == 4  # both machines' measurements are kept


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"",
        b"\xff\xfe\x00garbage",
        b"[1, 2]",
        b'{"version": 1, "ratios": []}',
        b'{"version": 999, "ratios": {}}',
        b"NaN",
    ],
)
def test_a_corrupt_cache_is_ignored_and_measured_again(
    fake_ratios: FakeRatios, cache_dir: Path, content: bytes
) -> None:
    cache_dir.mkdir()
    (cache_dir / cpu_matmul.CACHE_FILE).write_bytes(content)
    model = Two()
    assert cpu_matmul.tune(model) == 1
    assert sorted(fake_ratios.measured) == [8, 4096]
    stored = json.loads((cache_dir / cpu_matmul.CACHE_FILE).read_text())
    assert stored["version"] == cpu_matmul.CACHE_VERSION and len(stored["ratios"]) == 2


@pytest.mark.parametrize("bad", ['"fast"', "-1", "0", "true", "null", "1e999"])
def test_an_unusable_entry_is_measured_again(
    fake_ratios: FakeRatios, cache_dir: Path, bad: str
) -> None:
    cache_dir.mkdir()
    wide = cpu_matmul.cache_key((4096, 8), torch.float32)
    square = cpu_matmul.cache_key((8, 8), torch.float32)
    entries = f'"{wide}": {bad}, "{square}": 1.0'
    (cache_dir / cpu_matmul.CACHE_FILE).write_text(f'{{"version": 1, "ratios": {{{entries}}}}}')
    assert cpu_matmul.tune(Two()) == 1
    assert fake_ratios.measured == [4096]  # the good entry was still used


def test_an_unwritable_cache_is_not_fatal(
    fake_ratios: FakeRatios, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache_dir.parent.mkdir(exist_ok=True)
    cache_dir.write_text("a file where the folder should be")
    model = Two()
    assert cpu_matmul.tune(model) == 1
    assert routed(model) == [True, False, False, False]
    assert "not written" in caplog.text


def test_cache_folder_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(user_cache.ENV, str(tmp_path / "mine"))
    assert user_cache.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv(user_cache.ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_cache.cache_dir() == tmp_path / "xdg" / "muse"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_cache.cache_dir() == tmp_path / "home" / ".cache" / "muse"


class KernelClock(TorchFunctionMode):
    """A fake clock that only the real kernels move, and a record of which ran.

    nn.Linear's product (x @ W.T, torch's `linear`) costs 1.0 per layer and the transposed
    one (`mm`) 0.5, except that a noisy neighbour makes the `slow` standard calls cost 10x.
    """

    def __init__(self, slow: range) -> None:
        super().__init__()
        self.now = 0.0
        self.kernels: list[str] = []
        self.slow = slow

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        name = getattr(func, "__name__", "")
        if name == "linear":
            cost = 10.0 if self.kernels.count("standard") in self.slow else 1.0
            self.kernels.append("standard")
            self.now += cost
        elif name == "mm":
            self.kernels.append("transposed")
            self.now += 0.5
        return func(*args, **(kwargs or {}))


def test_measuring_times_both_real_layouts_alternating() -> None:
    layers = [nn.Linear(8, 8), nn.Linear(8, 8)]
    # A neighbour slows the standard side of one pair (after the warm-up pass of 2 layers).
    clock = KernelClock(slow=range(4, 6))
    with clock:
        ratio = cpu_matmul._ratio(layers, clock=lambda: clock.now)
    warm_up = ["standard"] * 2
    pair = ["standard"] * 2 + ["transposed"] * 2
    assert clock.kernels == warm_up + pair * cpu_matmul.PASSES
    # Each pair's ratio is 0.5 but the disturbed one (0.05); the median ignores that one.
    assert ratio == pytest.approx(0.5)


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
