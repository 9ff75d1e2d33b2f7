"""Real-architecture models with random weights, built in-process (no download)."""

from __future__ import annotations

from pathlib import Path

from transformers import LlamaConfig

from core.text.tiny import build_tiny_tokenizer, save_random_llama

# SmolLM2-135M's shape: a Llama-architecture 135M-parameter model.
SMOL_135M = dict(
    vocab_size=49152,
    hidden_size=576,
    intermediate_size=1536,
    num_hidden_layers=30,
    num_attention_heads=9,
    num_key_value_heads=3,
    max_position_embeddings=8192,
    tie_word_embeddings=True,
)


def build_bench_text_model(path: Path, seed: int = 0) -> Path:
    if (path / "config.json").exists() and any(path.glob("*.safetensors")):
        return path
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer(vocab_size=SMOL_135M["vocab_size"])
    config = LlamaConfig(
        **SMOL_135M, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    return save_random_llama(path, config, tokenizer, seed)


def default_bench_dir() -> Path:
    return Path.home() / ".cache" / "muse" / "bench-llama-135m-v1"
