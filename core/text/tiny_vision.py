"""A tiny random vision-language model built in-process, for offline runs and tests.

LLaVA's architecture (a CLIP vision tower, a projector, a Llama language model) with a few
channels, 32×32 pictures cut into 16 patches, the word-level tokenizer of core/text/tiny.py
plus an `<image>` token, and a ChatML template that renders image parts. It is saved with
`save_pretrained` and loaded back through `AutoProcessor` / `AutoModelForImageTextToText`,
the path a hub model takes. Its answers are random words.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    CLIPImageProcessorPil,
    CLIPVisionConfig,
    GenerationConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
)

from core.runtime.user_cache import tiny_model_dir
from core.text.tiny import build_tiny_tokenizer

__all__ = ["VISION_CHAT_TEMPLATE", "build_tiny_vision_model", "default_tiny_vision_dir"]

IMAGE_TOKEN = "<image>"
IMAGE_SIZE, PATCH = 32, 8
# ChatML whose messages may hold parts: {"type": "image"} becomes the image token, which
# the processor expands into one token per patch.
VISION_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<image>' }}{% else %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _complete(path: Path) -> bool:
    return all(
        (path / name).exists()
        for name in ("config.json", "processor_config.json", "tokenizer.json")
    ) and any(path.glob("*.safetensors"))


def build_tiny_vision_model(path: Path, seed: int = 0) -> Path:
    """Write the tiny random LLaVA to `path` (reused if already there)."""
    path = Path(path)
    if _complete(path):
        return path
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", IMAGE_TOKEN]})
    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=IMAGE_SIZE,
        patch_size=PATCH,
        projection_dim=32,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    size = {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(size={"shortest_edge": IMAGE_SIZE}, crop_size=size),
        tokenizer=tokenizer,
        patch_size=PATCH,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's class token, dropped by "default"
        chat_template=VISION_CHAT_TEMPLATE,
    )
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def default_tiny_vision_dir() -> Path:
    return tiny_model_dir("tiny-vision-v1")
