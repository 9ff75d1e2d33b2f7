"""Read fetched files for a prompt: text and code as they are, PDFs through pypdf, pictures
checked and scaled down for a vision model. Every refusal has its own plain message, and
whatever is cut (pages, tokens, files over the count) is said."""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from PIL import Image
from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError, PdfStreamError

from core.files.settings import MB, FileSettings
from core.files.sniff import claimed_kind, sniff

__all__ = [
    "FileProblem",
    "FileText",
    "PictureFile",
    "cut_to_tokens",
    "file_block",
    "open_picture",
    "read_file",
    "read_picture",
    "size_text",
]

log = logging.getLogger(__name__)


class FileProblem(Exception):
    """A file Muse will not read; the message says which and why, for the person."""


@dataclass(frozen=True)
class FileText:
    name: str
    kind: str  # "text" or "pdf"
    text: str
    notes: tuple[str, ...] = ()  # pages left out, no text layer, ...


@dataclass(frozen=True)
class PictureFile:
    name: str
    image: Image.Image = field(repr=False)
    original: tuple[int, int]  # width, height as posted


def size_text(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB / 10 else f"{max(1, n // 1024)} KB"


def read_file(name: str, data: bytes, settings: FileSettings) -> FileText | PictureFile:
    """One downloaded file, checked by its bytes; raises FileProblem."""
    if not data:
        raise FileProblem(f"{name} is empty.")
    found = sniff(data)
    claimed = claimed_kind(name)
    if claimed is not None and claimed != found.kind:
        wanted = "a PDF" if claimed == "pdf" else "a picture"
        raise FileProblem(
            f"{name} is named like {wanted}, but its content is {found.label}; "
            "I read files by what they contain, so I left it out."
        )
    if found.kind == "image":
        return open_picture(name, data, settings)
    if found.kind == "pdf":
        return _read_pdf(name, data, settings)
    if found.kind == "text":
        text = data.decode("utf-8", errors="ignore").removeprefix("\ufeff")
        return FileText(name, "text", text)
    raise FileProblem(
        f"I can't read {name}: it is {found.label}. I read text, Markdown, code, PDFs "
        "and pictures (PNG, JPEG, GIF, WebP)."
    )


def read_picture(
    name: str, data: bytes, settings: FileSettings, megapixels: float | None = None
) -> PictureFile:
    """A file that must be a picture (by its bytes), opened as `open_picture` does."""
    found = sniff(data)
    if found.kind != "image":
        raise FileProblem(f"{name} is not a picture: its content is {found.label}.")
    return open_picture(name, data, settings, megapixels)


def open_picture(
    name: str, data: bytes, settings: FileSettings, megapixels: float | None = None
) -> PictureFile:
    """Decode a picture, refusing huge ones before decoding, scaled down to `megapixels`
    (by default the vision cap)."""
    limit = settings.max_image_megapixels * 1_000_000
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size  # read from the header, nothing decoded yet
            if width * height > limit:
                raise FileProblem(
                    f"{name} is {width}×{height} pixels; the limit is "
                    f"{settings.max_image_megapixels:g} megapixels."
                )
            with warnings.catch_warnings():
                # Pillow's own bomb warning: the check above already decided.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                probe.seek(0)  # the first frame of an animation
                image = probe.convert("RGB")
    except FileProblem:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        log.info("unreadable picture %s: %r", name, exc)
        raise FileProblem(
            f"{name} looks like a picture but is damaged; I couldn't open it."
        ) from None
    cap = (megapixels or settings.vision_megapixels) * 1_000_000
    if width * height > cap:
        scale = (cap / (width * height)) ** 0.5
        image.thumbnail((max(1, int(width * scale)), max(1, int(height * scale))))
    return PictureFile(name, image, (width, height))


def _read_pdf(name: str, data: bytes, settings: FileSettings) -> FileText:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):  # "" opens owner-only locks
            raise FileProblem(f"{name} is password-protected; send a copy without the password.")
        total = len(reader.pages)
        shown = min(total, settings.max_pdf_pages)
        pages = [reader.pages[i].extract_text() or "" for i in range(shown)]
    except FileProblem:
        raise
    except (FileNotDecryptedError, DependencyError):  # AES needs `cryptography`; not worth it
        raise FileProblem(
            f"{name} is password-protected; send a copy without the password."
        ) from None
    except (PdfReadError, PdfStreamError, ValueError, KeyError, TypeError, OSError) as exc:
        log.info("unreadable PDF %s: %r", name, exc)
        raise FileProblem(f"{name} is a damaged PDF; I couldn't read it.") from None
    notes = []
    if shown < total:
        notes.append(f"{name}: read pages 1–{shown} of {total}")
    text = "\n\n".join(f"[page {i + 1}]\n{page.strip()}" for i, page in enumerate(pages))
    if not any(page.strip() for page in pages):
        raise FileProblem(
            f"{name} has no text I can read (a scanned PDF?); send the pages as pictures."
        )
    return FileText(name, "pdf", text, tuple(notes))


def cut_to_tokens(tokenizer: Any, text: str, budget: int) -> tuple[str, int]:
    """`text` cut to at most `budget` tokens at a token boundary; (text, its token count)."""
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
    if len(ids) <= budget:
        return text, len(ids)
    if budget <= 0:
        return "", 0
    return text[: offsets[budget - 1][1]], budget


def file_block(name: str, text: str) -> str:
    """How a file's text sits in a message the model reads."""
    label = PurePosixPath(name).name
    return f"\n\n[file {label}]\n{text}\n[end of {label}]"
