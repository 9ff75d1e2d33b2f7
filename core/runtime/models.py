"""Where a model comes from (a hub id or a local folder), and errors that say what to do."""

from __future__ import annotations

from pathlib import Path

from core.errors import ModelUnavailable

__all__ = ["looks_like_folder", "missing_folder", "model_unavailable"]


def looks_like_folder(name: str) -> bool:
    """A path, not a hub id: absolute, ./ ../ ~, Windows-style, or deeper than org/name."""
    return (
        name.startswith(("/", ".", "~"))
        or "\\" in name
        or name.count("/") > 1
        or Path(name).exists()
    )


def missing_folder(name: str, key: str) -> ModelUnavailable | None:
    """The error for a local model folder that is not there (None if it is, or a hub id)."""
    if not looks_like_folder(name):
        return None
    path = Path(name).expanduser()
    if path.is_dir():
        return None
    what = "is a file, not a model folder" if path.exists() else "does not exist"
    return ModelUnavailable(
        f"Model folder '{name}' {what}.\n"
        f"  - Point {key} at a folder saved with save_pretrained, or at a hub id such as "
        f"Qwen/Qwen2.5-1.5B-Instruct.\n"
        f"  - Or run with --tiny to try Muse offline with a tiny random model."
    )


def model_unavailable(model: str, key: str, exc: BaseException) -> ModelUnavailable:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelUnavailable(
        f"Could not load model '{model}': {reason[:300]}\n"
        f"  - If this is the first run, Muse needs to download it from the Hugging Face hub "
        f"(is the network up?).\n"
        f"  - Or point {key} in your config at another model id or a local folder.\n"
        f"  - Or run with --tiny to try Muse offline with a tiny random model."
    )
