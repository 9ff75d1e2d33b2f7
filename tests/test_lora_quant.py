"""LoRA personas (PEFT mixed-adapter batches, prefix cache per adapter) and weight-only
quantization (torchao) in the text engine, on the tiny random model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from core.errors import ModelUnavailable
from core.runtime.device import DeviceArbiter
from core.text.engine import GenerationSettings, TextEngine
from core.text.request import Sequence
from core.text.settings import AdapterEntry
from core.text.tiny import build_tiny_lora
from tests.helpers import tiny_text_settings

GREEDY = GenerationSettings(max_new_tokens=10, temperature=0)
TEXTS = [
    "the sea is calm and the lighthouse keeps its light",
    "hello friend",
    "write a poem about the moon and the river at night",
]


@pytest.fixture(scope="module")
def loras(tiny_text_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[AdapterEntry]:
    root = tmp_path_factory.mktemp("lora")
    return [
        AdapterEntry(name=name, path=str(build_tiny_lora(tiny_text_dir, root / name, seed)))
        for name, seed in (("pirate", 1), ("poet", 2))
    ]


async def _engine(tiny_text_dir: Path, **changes: object) -> TextEngine:
    engine = TextEngine(tiny_text_settings(tiny_text_dir, **changes), DeviceArbiter())
    await engine.load()
    engine.eos_ids = set()  # random weights: every request runs to its full length
    return engine


@pytest.fixture
async def pair(
    tiny_text_dir: Path, loras: list[AdapterEntry]
) -> AsyncIterator[tuple[TextEngine, TextEngine]]:
    """(the engine with both adapters, the same model without any)."""
    with_lora = await _engine(tiny_text_dir, adapters=loras)
    base = await _engine(tiny_text_dir)
    yield with_lora, base
    await with_lora.arbiter.close()
    await base.arbiter.close()


def ids(engine: TextEngine, text: str) -> list[int]:
    return list(engine.tokenizer(text, add_special_tokens=False)["input_ids"])


async def text_of(
    engine: TextEngine, prompt: list[int], adapter: str | None = None, key: str | None = None
) -> str:
    return "".join([p async for p in engine.stream(prompt, GREEDY, cache_key=key, adapter=adapter)])


async def test_one_mixed_batch_adapter_rows_differ_and_base_rows_equal_the_base_model(
    pair: tuple[TextEngine, TextEngine],
) -> None:
    engine, base = pair
    rows = [ids(engine, TEXTS[0])] * 4  # same tokens in every row: only the adapter differs
    adapters = ["pirate", None, "poet", None]
    x = torch.tensor(rows)
    seqs = [Sequence(r, GREEDY, adapter=a) for r, a in zip(rows, adapters, strict=True)]
    with torch.inference_mode():
        # The engine's own forward arguments for this batch: one adapter name per row.
        mixed = engine.model(input_ids=x, **engine._batch.adapter_kwargs(seqs)).logits
        plain = base.model(input_ids=x).logits
    assert engine._batch.adapter_kwargs(seqs) == {
        "adapter_names": ["pirate", "__base__", "poet", "__base__"]
    }
    for row in (1, 3):
        torch.testing.assert_close(mixed[row], plain[row], rtol=1e-5, atol=1e-5)
    for row in (0, 2):
        assert (mixed[row] - plain[row]).abs().max() > 1e-3
    assert (mixed[0] - mixed[2]).abs().max() > 1e-3  # two adapters, two personas


async def test_requests_with_different_adapters_decode_in_one_batch(
    pair: tuple[TextEngine, TextEngine],
) -> None:
    engine, base = pair
    prompts = [ids(engine, t) for t in TEXTS]
    want_base = [await text_of(base, p) for p in prompts]
    alone = [await text_of(engine, p, "pirate") for p in prompts]
    serial_passes = engine.forward_passes
    jobs = [(p, a) for p in prompts for a in (None, "pirate")]
    together = await asyncio.gather(*(text_of(engine, p, a) for p, a in jobs))
    assert together[0::2] == want_base  # no adapter: exactly the base model's greedy text
    assert together[1::2] == alone  # with one: the same as that adapter alone
    assert alone != want_base
    # ... and they shared decode steps: six requests, fewer passes than three serial ones.
    assert engine.forward_passes - serial_passes < serial_passes


async def test_prefix_cache_is_kept_per_adapter(pair: tuple[TextEngine, TextEngine]) -> None:
    engine, _ = pair
    first = ids(engine, TEXTS[0])
    reply = await text_of(engine, first, "poet", key="c1")
    follow = first + ids(engine, reply + " and the ship")
    cache = engine.prefix_cache
    misses = cache.misses
    cold = await text_of(engine, follow, None, key="c1")  # the base model's cache: none yet
    assert cache.misses == misses + 1
    hits = cache.hits
    warm = await text_of(engine, follow, "poet", key="c1")  # the poet's own cache
    assert cache.hits == hits + 1
    assert warm == await text_of(engine, follow, "poet") and cold == await text_of(engine, follow)
    engine.forget("c1")
    assert not any(k.startswith("c1") for k in cache._entries)


async def test_an_unknown_adapter_is_a_clear_error(pair: tuple[TextEngine, TextEngine]) -> None:
    engine, _ = pair
    with pytest.raises(ValueError, match=r"unknown adapter 'pirat'.*pirate, poet"):
        await text_of(engine, ids(engine, "hello"), "pirat")


async def test_a_missing_adapter_folder_names_the_adapter(
    tiny_text_dir: Path, tmp_path: Path
) -> None:
    entry = AdapterEntry(name="ghost", path=str(tmp_path / "nowhere"))
    engine = TextEngine(tiny_text_settings(tiny_text_dir, adapters=[entry]), DeviceArbiter())
    with pytest.raises(ModelUnavailable, match="'ghost' could not be loaded"):
        await engine.load()
    await engine.arbiter.close()


async def test_int8_weights_keep_batching_and_the_prefix_cache(tiny_text_dir: Path) -> None:
    engine = await _engine(tiny_text_dir, quantization="int8")
    try:
        weight = engine.model.model.layers[0].self_attn.q_proj.weight
        assert type(weight) is not torch.nn.Parameter and "Int8" in type(weight).__name__
        assert engine.fast_path  # the batched path passed its check against generate
        prompts = [ids(engine, t) for t in TEXTS]
        serial = [await text_of(engine, p) for p in prompts]
        assert list(await asyncio.gather(*(text_of(engine, p) for p in prompts))) == serial
        first = prompts[0]
        reply = await text_of(engine, first, key="q")
        hits = engine.prefix_cache.hits
        follow = first + ids(engine, reply + " and more")
        assert await text_of(engine, follow, key="q") == await text_of(engine, follow)
        assert engine.prefix_cache.hits == hits + 1
    finally:
        await engine.arbiter.close()


def test_int4_on_the_cpu_is_a_config_error_that_says_why(tiny_text_dir: Path) -> None:
    with pytest.raises(ValidationError, match=r"int4.*needs a CUDA GPU"):
        tiny_text_settings(tiny_text_dir, quantization="int4", device="cpu")
    with pytest.raises(ValidationError, match=r"int4.*bfloat16"):
        tiny_text_settings(tiny_text_dir, quantization="int4", dtype="float32")


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU machine int4 loads")
async def test_int4_where_auto_picks_the_cpu_fails_to_load_saying_why(tiny_text_dir: Path) -> None:
    engine = TextEngine(tiny_text_settings(tiny_text_dir, quantization="int4"), DeviceArbiter())
    with pytest.raises(ModelUnavailable, match=r"needs a CUDA GPU.*on cpu"):
        await engine.load()
    await engine.arbiter.close()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="int4 weight-only needs CUDA")
async def test_int4_on_cuda_serves_batched_requests(tiny_text_dir: Path) -> None:
    # hidden size 128: torchao's int4 groups are 128 wide
    from core.text.tiny import build_tiny_text_model

    model = build_tiny_text_model(tiny_text_dir.parent / "tiny-128", hidden_size=128)
    engine = await _engine(model, quantization="int4", device="cuda", dtype="bfloat16")
    try:
        prompts = [ids(engine, t) for t in TEXTS]
        serial = [await text_of(engine, p) for p in prompts]
        assert list(await asyncio.gather(*(text_of(engine, p) for p in prompts))) == serial
    finally:
        await engine.arbiter.close()


async def test_int8_weights_and_adapters_together(
    tiny_text_dir: Path, loras: list[AdapterEntry]
) -> None:
    """LoRA on int8 base weights: base rows of a mixed batch are the int8 model's own."""
    both = await _engine(tiny_text_dir, quantization="int8", adapters=loras)
    plain = await _engine(tiny_text_dir, quantization="int8")
    try:
        prompts = [ids(both, t) for t in TEXTS]
        want = [await text_of(plain, p) for p in prompts]
        jobs = [(p, a) for p in prompts for a in (None, "poet")]
        got = await asyncio.gather(*(text_of(both, p, a) for p, a in jobs))
        assert got[0::2] == want and got[1::2] != want
    finally:
        await both.arbiter.close()
        await plain.arbiter.close()


def test_adapters_and_quantization_from_a_toml_file(tmp_path: Path) -> None:
    from bot.config import ConfigError, load_config

    path = tmp_path / "muse.toml"
    path.write_text(
        '[text]\nquantization = "int8"\n\n'
        '[[text.adapters]]\nname = "pirate"\npath = "/adapters/pirate"\n\n'
        '[[text.adapters]]\nname = "poet"\npath = "someone/poet-lora"\n',
        encoding="utf-8",
    )
    text = load_config(path).text
    assert text.quantization == "int8"
    assert [(a.name, a.path) for a in text.adapters] == [
        ("pirate", "/adapters/pirate"),
        ("poet", "someone/poet-lora"),
    ]
    path.write_text('[text]\ndevice = "cpu"\nquantization = "int4"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [problem] = caught.value.problems
    assert "int4" in problem and "needs a CUDA GPU" in problem


async def test_an_adapter_that_cannot_take_a_row_of_its_own_is_refused(
    tiny_text_dir: Path, tmp_path: Path
) -> None:
    from peft import IA3Config, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_text_dir)
    config = IA3Config(
        target_modules=["k_proj", "v_proj", "down_proj"], feedforward_modules=["down_proj"]
    )
    get_peft_model(base, config).save_pretrained(tmp_path / "ia3")
    entry = AdapterEntry(name="scaled", path=str(tmp_path / "ia3"))
    engine = TextEngine(tiny_text_settings(tiny_text_dir, adapters=[entry]), DeviceArbiter())
    with pytest.raises(ModelUnavailable, match="must be LoRA adapters \\('scaled' is ia3\\)"):
        await engine.load()
    await engine.arbiter.close()


def test_check_config_names_a_missing_adapter_folder(tmp_path: Path) -> None:
    from bot.config import Config
    from bot.preflight import preflight

    missing = tmp_path / "adapters" / "pirate"
    config = Config.model_validate(
        {
            "muse": {"db": str(tmp_path / "muse.db")},
            "text": {
                "model": "Qwen/Qwen2.5-1.5B-Instruct",
                "adapters": [{"name": "pirate", "path": str(missing)}],
            },
        }
    )
    assert preflight(config) == [
        f"[text] adapters 'pirate' path = '{missing}': Model folder '{missing}' does not exist."
    ]
