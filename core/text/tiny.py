"""A tiny random chat model built in-process, for offline runs and tests.

Its text is random words: it proves the plumbing (tokenizer, chat template, streaming,
memory), not the writing. It is saved with `save_pretrained` and loaded back through
the same `from_pretrained` path a real model takes.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from core.runtime.user_cache import tiny_model_dir

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<unk>"]
_WORDS = """
the a an and or but of to in on at by for with from as is are was were be been it this that
these those i you he she we they me him her us them my your our their what who when where why
how hello hi thanks yes no maybe today tomorrow morning night day week year time sun moon star
sky sea river lake mountain forest tree flower rain snow wind cloud light dark warm cold bright
quiet loud small big old new good bad happy sad calm wild gentle brave clever kind music song
poem story dream idea word book letter picture painting color red blue green gold silver white
black bird fish cat dog horse dragon ship lighthouse city village road bridge house garden door
window fire water stone glass paper tea coffee bread apple honey salt sugar friend family people
child teacher artist traveler sailor king queen robot machine engine spark signal message answer
question reason memory channel server muse think know feel see hear say tell ask write read draw
sing play walk run fly swim rest wait begin end open close remember forget love like want need
make build find give take keep let help try use learn grow change turn move stay
. , ! ? : ; ' " - ( ) 0 1 2 3 4 5 6 7 8 9 system user assistant
""".split()

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def build_tiny_tokenizer(vocab_size: int = 0) -> PreTrainedTokenizerFast:
    """A word-level tokenizer; `vocab_size` pads it with made-up words (for benchmarks)."""
    words = SPECIAL + sorted(set(_WORDS))
    words += [f"w{i}" for i in range(max(0, vocab_size - len(words)))]
    vocab = {token: i for i, token in enumerate(words)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    # Specials are matched before pre-tokenization, so the ChatML markers stay whole.
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    core.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<unk>",
        additional_special_tokens=["<|im_start|>"],
        model_max_length=4096,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _complete(path: Path) -> bool:
    return (
        (path / "config.json").exists()
        and (path / "tokenizer.json").exists()
        and any(path.glob("*.safetensors"))
    )


def build_tiny_text_model(path: Path, hidden_size: int = 64, seed: int = 0) -> Path:
    """Write a tiny random Llama-architecture chat model to `path` (reused if already there).

    Llama rather than Qwen2: transformers maps Qwen2 checkpoints to its BPE Qwen2Tokenizer,
    which would rebuild (and break) this word-level tokenizer on load.
    """
    path = Path(path)
    if _complete(path):
        return path
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return save_random_llama(path, config, tokenizer, seed)


def save_random_llama(
    path: Path, config: LlamaConfig, tokenizer: PreTrainedTokenizerFast, seed: int = 0
) -> Path:
    """A Llama with seeded random weights and `tokenizer`, saved with save_pretrained (so it
    loads through the same from_pretrained path as a hub model)."""
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def default_tiny_dir() -> Path:
    return tiny_model_dir("tiny-text-v1")


def build_tiny_lora(base: Path, path: Path, seed: int = 1, rank: int = 4) -> Path:
    """A random LoRA adapter for the model at `base`, saved with PEFT's save_pretrained.

    `init_lora_weights=False` draws both LoRA matrices at random (PEFT's default makes B
    zero, an adapter that changes nothing), so the adapter really changes the logits.
    """
    from peft import LoraConfig, get_peft_model  # deferred: only adapter users need it

    path = Path(path)
    if (path / "adapter_config.json").exists():
        return path
    torch.manual_seed(seed)
    model = LlamaForCausalLM.from_pretrained(base)
    config = LoraConfig(
        r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    get_peft_model(model, config).save_pretrained(path)
    return path
