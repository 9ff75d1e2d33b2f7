"""A tiny random text-to-image pipeline built in-process, for offline runs and tests.

It has Stable Diffusion's architecture (CLIP text encoder and tokenizer, conditional
UNet, KL autoencoder, safety checker, the Euler scheduler SD-Turbo ships) with a
handful of channels and random weights: its pictures are noise, but every byte goes
through the production path — it is saved with `save_pretrained` and loaded back with
`AutoPipelineForText2Image.from_pretrained`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    EulerDiscreteScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
from tokenizers import pre_tokenizers
from transformers import (
    CLIPConfig,
    CLIPImageProcessor,
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTokenizer,
    CLIPVisionConfig,
)

from core.runtime.user_cache import tiny_model_dir

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
MAX_TOKENS = 77  # CLIP's context length, so long prompts are truncated as in a real model
# Common pieces merged into single tokens; everything else falls back to single bytes.
_MERGES = ["t h", "th e</w>", "a n", "an d</w>", "i n", "o n</w>", "e r", "s t"]
_COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler", "safety_checker")


def build_tiny_tokenizer() -> CLIPTokenizer:
    """A byte-level CLIP BPE tokenizer: every byte is a token (alone or word-final)."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens = [BOS, EOS, *alphabet, *(c + "</w>" for c in alphabet)]
    merges = [tuple(m.split(" ")) for m in _MERGES]
    tokens += ["".join(pair) for pair in merges]
    vocab = {token: i for i, token in enumerate(tokens)}
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=MAX_TOKENS)


def _safety_checker() -> tuple[StableDiffusionSafetyChecker, CLIPImageProcessor]:
    vision = CLIPVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
    )
    text = CLIPTextConfig(
        vocab_size=16,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    config = CLIPConfig(
        text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=16
    )
    checker = StableDiffusionSafetyChecker(config).eval()
    # Cosine similarity never exceeds 1, so with thresholds of 2 nothing is flagged; a
    # test lowers them to exercise the blocking path.
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(2.0)
        checker.special_care_embeds_weights.fill_(2.0)
    processor = CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    return checker, processor


def _complete(path: Path) -> bool:
    if not (path / "model_index.json").exists():
        return False
    index = json.loads((path / "model_index.json").read_text(encoding="utf-8"))
    weighted = ("unet", "vae", "text_encoder", "safety_checker")
    return all(name in index and (path / name).is_dir() for name in _COMPONENTS) and all(
        any((path / name).glob("*.safetensors")) for name in weighted
    )


def build_tiny_pipeline(path: Path, seed: int = 0) -> Path:
    """Write a tiny random Stable Diffusion pipeline to `path` (reused if already there).

    The VAE has four blocks, so it scales by 8 like the real one and any size that is a
    multiple of 8 comes out exactly that size (64x64 -> 8x8 latents; 512x512 -> 64x64,
    still fast). The UNet's two levels cope with odd latent sizes (128x96 -> 16x12).
    """
    path = Path(path)
    if _complete(path):
        return path
    torch.manual_seed(seed)
    tokenizer = build_tiny_tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=MAX_TOKENS,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(4, 8, 8, 8),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1,
        norm_num_groups=4,
        sample_size=64,
        mid_block_add_attention=False,
    )
    # SD-Turbo's scheduler: Euler with "trailing" spacing, good at 1-4 steps.
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="trailing",
        steps_offset=1,
    )
    safety_checker, feature_extractor = _safety_checker()
    pipe = StableDiffusionPipeline(
        vae=vae.eval(),
        text_encoder=text_encoder.eval(),
        tokenizer=tokenizer,
        unet=unet.eval(),
        scheduler=scheduler,
        safety_checker=safety_checker,
        feature_extractor=feature_extractor,
        image_encoder=None,
        requires_safety_checker=True,
    )
    # Written beside the target and renamed into place, so an interrupted build never
    # leaves a half-written pipeline that looks complete.
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        pipe.save_pretrained(staging)
        if path.exists() and not _complete(path):
            shutil.rmtree(path)
        try:
            staging.rename(path)
        except OSError:  # another process finished first
            if not _complete(path):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def default_tiny_image_dir() -> Path:
    return tiny_model_dir("tiny-image-v1")
