"""Test doubles that are ours to fake: a Reply that records what the core sent."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from core.events import Message
from core.reply import Attachment, Sent

_ids = itertools.count(1)


@dataclass
class RecordingReply:
    sent: list[str] = field(default_factory=list)
    pieces: list[list[str]] = field(default_factory=list)
    uploads: list[tuple[list[Attachment], str]] = field(default_factory=list)
    ephemeral: list[bool] = field(default_factory=list)

    async def send(self, text: str, *, ephemeral: bool = False) -> Sent:
        self.sent.append(text)
        self.ephemeral.append(ephemeral)
        return Sent((f"r{next(_ids)}",), text)

    async def stream(self, pieces: AsyncIterator[str]) -> Sent:
        got = [p async for p in pieces]
        self.pieces.append(got)
        self.sent.append("".join(got))
        self.ephemeral.append(False)
        return Sent((f"r{next(_ids)}",), "".join(got))

    async def upload(self, files: list[Attachment], text: str) -> Sent:
        self.uploads.append((files, text))
        self.sent.append(text)
        self.ephemeral.append(False)
        return Sent((f"r{next(_ids)}",), text)

    statuses: list[str] = field(default_factory=list)

    async def status(self, text: str) -> None:
        self.statuses.append(text)

    @property
    def last(self) -> str:
        return self.sent[-1]


def msg(text: str, channel: str = "c1", author: str = "u1", **kw: object) -> Message:
    return Message(
        platform="test", channel=channel, author_id=author, author_name=author, text=text, **kw
    )  # type: ignore[arg-type]
