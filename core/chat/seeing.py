"""What the files posted with a message add to Muse's answer: documents read into the
user's turn, pictures for the vision model, references kept in memory, and notes that
say what was left out.

`Muse._answer` asks this module for three things: the history turns with their files
(`Seeing.history`), the new message's files (`Seeing.read`) and, where pictures are in
play, the vision model's chat messages (`Seeing.vision_messages`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.chat.events import IncomingFile, Message
from core.chat.prompt import MessageTooLong, Turn
from core.errors import UserError
from core.files.fetch import Fetcher, FetchError, FileCache, TooLarge
from core.files.read import (
    FileProblem,
    FileText,
    PictureFile,
    cut_to_tokens,
    file_block,
    open_picture,
    read_file,
    size_text,
)
from core.files.settings import FileSettings
from core.memory.store import Memory, StoredAttachment, StoredMessage
from core.text.vision import VisionEngine
from core.text.vision_settings import VisionSettings

__all__ = ["ASK_ABOUT_FILES", "Incoming", "Seeing", "cant_see"]

log = logging.getLogger(__name__)
# The user's turn when files came without a message.
ASK_ABOUT_FILES = "(no message, only the attached files: describe them)"


def cant_see(why: str) -> str:
    return (
        f"I can't see pictures: {why}, so I won't pretend to. An admin can set [vision] "
        "model to a vision-language model (for example HuggingFaceTB/SmolVLM-256M-Instruct) "
        "and restart me."
    )


class VisionHost(Protocol):
    """What Seeing reads of the Muse it serves (its vision model, and why it has none)."""

    vision_engine: VisionEngine | None
    vision_settings: VisionSettings
    vision_missing: str


@dataclass
class Incoming:
    """The files of one new message, read."""

    blocks: str = ""  # documents' text, appended to the user's text
    pictures: list[PictureFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was refused or cut
    stored: list[StoredAttachment] = field(default_factory=list)  # what memory keeps

    @property
    def note(self) -> str:
        """One line for the top of the reply (empty when nothing was cut)."""
        return f"(Note: {' '.join(self.notes)})\n\n" if self.notes else ""


@dataclass
class Seeing:
    settings: FileSettings
    memory: Memory
    # Filled by adapters as they start: platform name -> how to download its files.
    fetchers: dict[str, Fetcher] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cache = FileCache(self.settings.cache_mb * 1024 * 1024)

    # -- history ----------------------------------------------------------------------------

    async def history(
        self, stored: Sequence[StoredMessage]
    ) -> tuple[list[Turn], dict[int, list[StoredAttachment]]]:
        """History turns with their files' references (documents with the text read then),
        and the files by turn index."""
        files = await self.memory.attachments_of([m.id for m in stored])
        turns, by_turn = [], {}
        for i, m in enumerate(stored):
            own = files.get(m.id, [])
            if own:
                by_turn[i] = own
            turns.append(Turn(m.role, m.content + _references(own), m.author_name))
        return turns, by_turn

    async def references(self, message_ids: list[int]) -> dict[int, str]:
        """What each stored message's files add to it when read again (see `_references`)."""
        files = await self.memory.attachments_of(message_ids)
        return {mid: _references(own) for mid, own in files.items() if own}

    async def recall_pictures(
        self, platform: str, by_turn: dict[int, list[StoredAttachment]], limit: int
    ) -> tuple[dict[int, list[PictureFile]], list[str]]:
        """The newest `limit` pictures of the history, fetched again by reference (or from
        the cache), by turn index; and notes for those that could not be fetched."""
        wanted: list[tuple[int, StoredAttachment]] = []
        for i in sorted(by_turn, reverse=True):
            for ref in reversed(by_turn[i]):
                if ref.kind == "image" and len(wanted) < limit:
                    wanted.append((i, ref))
        found: dict[int, list[PictureFile]] = {}
        notes = []
        for i, ref in reversed(wanted):
            try:
                data = await self.download(platform, IncomingFile(ref.name, ref.url, ref.size))
                picture = await asyncio.to_thread(open_picture, ref.name, data, self.settings)
            except FileProblem as exc:
                notes.append(f"I could not look at {ref.name} again: {exc}")
                continue
            self.cache.put(ref.url, data)
            found.setdefault(i, []).append(picture)
        return found, notes

    # -- the new message --------------------------------------------------------------------

    async def read(self, msg: Message, tokenizer: Any, budget: int) -> Incoming:
        """Download and read the message's files; documents get at most `budget` tokens
        together. Raises UserError when files came and none could be read."""
        incoming = Incoming()
        files = msg.attachments
        if not files:
            return incoming
        if not self.settings.enabled:
            incoming.notes.append("I don't read files here ([files] enabled = false).")
            return incoming
        if len(files) > self.settings.max_files:
            incoming.notes.append(
                f"I read the first {self.settings.max_files} of {len(files)} files."
            )
        left = min(budget, self.settings.max_file_tokens)
        for file in files[: self.settings.max_files]:
            try:
                data = await self.download(msg.platform, file)
                read = await asyncio.to_thread(read_file, file.name, data, self.settings)
            except FileProblem as exc:
                incoming.notes.append(str(exc))
                continue
            if isinstance(read, PictureFile):
                incoming.pictures.append(read)
                self.cache.put(file.url, data)
                incoming.stored.append(StoredAttachment(file.name, "image", file.url, len(data)))
                continue
            text, used = self._fit(read, tokenizer, left, incoming)
            left -= used
            if text:
                incoming.blocks += file_block(file.name, text)
                stored = StoredAttachment(file.name, read.kind, file.url, len(data), text)
                incoming.stored.append(stored)
        if not incoming.blocks and not incoming.pictures:
            raise UserError(" ".join(incoming.notes) or "I could not read those files.")
        return incoming

    def _fit(
        self, read: FileText, tokenizer: Any, left: int, incoming: Incoming
    ) -> tuple[str, int]:
        """The file's text within `left` tokens, and the tokens it takes; notes the cut."""
        incoming.notes.extend(read.notes)
        text, used = cut_to_tokens(tokenizer, read.text, left)
        if used == 0:
            incoming.notes.append(f"{read.name} did not fit: no room left for its text.")
            return "", 0
        if len(text) < len(read.text):
            incoming.notes.append(
                f"{read.name} was cut after {used} tokens ({len(text)} of "
                f"{len(read.text)} characters) to fit my prompt."
            )
        return text, used

    async def download(self, platform: str, file: IncomingFile) -> bytes:
        """The file's bytes (cached pictures first), within the size cap and the timeout;
        raises FileProblem saying why not."""
        settings = self.settings
        if file.size is not None and file.size > settings.max_bytes:
            raise FileProblem(
                f"{file.name} is {size_text(file.size)}; the limit is "
                f"{settings.max_file_mb:g} MB, so I didn't download it."
            )
        cached = self.cache.get(file.url)
        if cached is not None:
            return cached
        fetch = self.fetchers.get(platform)
        if fetch is None:
            raise FileProblem(f"I can't download files from {platform}.")
        try:
            async with asyncio.timeout(settings.download_timeout_seconds):
                return await fetch(file.url, settings.max_bytes)
        except TooLarge:
            raise FileProblem(
                f"{file.name} is over the {settings.max_file_mb:g} MB limit, so I stopped "
                "downloading it."
            ) from None
        except TimeoutError:
            raise FileProblem(
                f"Downloading {file.name} took longer than "
                f"{settings.download_timeout_seconds:g} s, so I gave up."
            ) from None
        except FetchError as exc:
            raise FileProblem(f"I couldn't download {file.name}: {exc}") from None

    # -- the vision model's prompt ------------------------------------------------------------

    async def vision_plan(
        self,
        host: VisionHost,
        platform: str,
        persona: str,
        history: list[Turn],
        files: dict[int, list[StoredAttachment]],
        new: Turn,
        incoming: Incoming,
    ) -> Any | None:
        """The vision model's inputs when pictures are in play (posted now, or earlier and
        still in `history`), else None (the text model answers). Raises UserError when
        pictures came and there is no vision model; notes pictures it could not recall."""
        engine = host.vision_engine
        if incoming.pictures and engine is None:
            raise UserError(cant_see(host.vision_missing))
        most = host.vision_settings.max_pictures
        if len(incoming.pictures) > most:
            incoming.notes.append(
                f"I looked at the first {most} of {len(incoming.pictures)} pictures."
            )
            del incoming.pictures[most:]
        pictures = {len(history): incoming.pictures} if incoming.pictures else {}
        if engine is not None and any(f.kind == "image" for fs in files.values() for f in fs):
            limit = most - len(incoming.pictures)
            recalled, notes = await self.recall_pictures(platform, files, limit)
            pictures.update(recalled)
            incoming.notes += notes
        if not pictures or engine is None:
            return None
        budget = host.vision_settings.prompt_tokens
        return await self.vision_inputs(engine, persona, [*history, new], pictures, budget)

    async def vision_inputs(
        self,
        engine: VisionEngine,
        system: str,
        turns: Sequence[Turn],
        pictures: dict[int, list[PictureFile]],
        budget: int,
    ) -> Any:
        """The vision model's inputs within `budget` tokens (image tokens included): the
        oldest turns drop first, their pictures with them; the new turn (last) stays."""
        for start in range(len(turns)):
            kept = {i - start: p for i, p in pictures.items() if i >= start}
            inputs = await engine.prepare(self.vision_messages(system, turns[start:], kept))
            if engine.length(inputs) <= budget:
                return inputs
        raise MessageTooLong(
            f"That message and its pictures need {engine.length(inputs)} tokens, over my "
            f"limit of {budget} for pictures ([vision] prompt_tokens). Please send fewer "
            "or smaller pictures, or a shorter message."
        )

    @staticmethod
    def vision_messages(
        system: str, turns: Sequence[Turn], pictures: dict[int, list[PictureFile]]
    ) -> list[dict[str, Any]]:
        """Chat messages with image parts: each picture in the turn it was posted with."""
        messages: list[dict[str, Any]] = []
        if system:
            messages.append({"role": "system", "content": [{"type": "text", "text": system}]})
        for i, turn in enumerate(turns):
            parts: list[dict[str, Any]] = [
                {"type": "image", "image": p.image} for p in pictures.get(i, [])
            ]
            parts.append({"type": "text", "text": turn.as_chat()["content"]})
            messages.append({"role": turn.role, "content": parts})
        return messages


def _references(files: Sequence[StoredAttachment]) -> str:
    """A stored turn's files as the model reads them again: documents with their text,
    pictures by name (the vision model gets the picture itself)."""
    out = ""
    for f in files:
        out += f"\n[picture {f.name}]" if f.kind == "image" else file_block(f.name, f.text)
    return out
