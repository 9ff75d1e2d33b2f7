"""What a file is, from its first bytes (never from its name or the declared type).

A dozen signatures by hand: the standard library has no sniffer, and `python-magic` would
need libmagic on every host. The kinds Muse reads are pictures (PNG, JPEG, GIF, WebP),
PDF and UTF-8 text; the others are named only to say precisely what was refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

__all__ = ["Sniffed", "claimed_kind", "sniff"]

# (signature, offset, kind, what it is)
_SIGNATURES: list[tuple[bytes, int, str, str]] = [
    (b"\x89PNG\r\n\x1a\n", 0, "image", "a PNG image"),
    (b"\xff\xd8\xff", 0, "image", "a JPEG image"),
    (b"GIF87a", 0, "image", "a GIF image"),
    (b"GIF89a", 0, "image", "a GIF image"),
    (b"WEBP", 8, "image", "a WebP image"),
    (b"%PDF-", 0, "pdf", "a PDF"),
    (b"PK\x03\x04", 0, "other", "a ZIP archive (or an Office document)"),
    (b"\x1f\x8b", 0, "other", "a gzip archive"),
    (b"\x7fELF", 0, "other", "a Linux program"),
    (b"MZ", 0, "other", "a Windows program"),
    (b"ID3", 0, "other", "an MP3 audio file"),
    (b"ftyp", 4, "other", "an MP4/MOV video"),
    (b"\x1aE\xdf\xa3", 0, "other", "a WebM/MKV video"),
]
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp"}


@dataclass(frozen=True)
class Sniffed:
    kind: str  # "image", "pdf", "text" or "other"
    label: str  # "a PNG image", "UTF-8 text", ...


def sniff(data: bytes) -> Sniffed:
    for signature, offset, kind, label in _SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            if signature == b"WEBP" and not data.startswith(b"RIFF"):
                continue
            return Sniffed(kind, label)
    # PDF allows a little junk before its header (within the first 1024 bytes).
    if b"%PDF-" in data[:1024]:
        return Sniffed("pdf", "a PDF")
    if b"\x00" not in data[:8192]:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            # A multi-byte character cut by the download cap is still text.
            if exc.start < len(data) - 3:
                return Sniffed("other", "binary data")
        return Sniffed("text", "UTF-8 text")
    return Sniffed("other", "binary data")


def claimed_kind(name: str) -> str | None:
    """The kind a file's name claims (None where the name says nothing Muse checks)."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix == ".pdf":
        return "pdf"
    if suffix in _IMAGE_SUFFIXES:
        return "image"
    return None
