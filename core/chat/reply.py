"""What adapters implement so the core can answer: send, stream, upload."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    mime: str = "image/png"


@dataclass(frozen=True)
class Sent:
    """What the platform made of an outgoing reply."""

    message_ids: tuple[str, ...]
    text: str = ""

    @property
    def first_id(self) -> str | None:
        return self.message_ids[0] if self.message_ids else None


class Reply(Protocol):
    """An adapter's handle for answering one incoming message or command.

    Adapters own platform rules: length limits and splitting, edit pacing, upload limits.
    """

    async def send(self, text: str, *, ephemeral: bool = False) -> Sent:
        """Post a complete message (ephemeral where the platform supports it)."""
        ...

    async def stream(self, pieces: AsyncIterator[str]) -> Sent:
        """Post text that grows as `pieces` arrive; the final text is exactly their join."""
        ...

    async def upload(self, files: list[Attachment], text: str) -> Sent:
        """Post files with a caption."""
        ...

    async def status(self, text: str) -> None:
        """Show a transient status (place in line); each call replaces the previous one."""
        ...

    async def working(self) -> None:
        """The request is accepted and its answer will take a while: show that Muse is on
        it (on Discord, a slash command's public "thinking…", or typing in a channel).
        Every refusal comes before this, so a refused request is answered to its asker
        alone from the start and never flashes a public placeholder."""
        ...


@dataclass(frozen=True)
class Target:
    """Where an unprompted post goes (a scheduled post): platform + channel [+ thread]."""

    platform: str
    channel: str
    workspace: str | None = None
    thread: str | None = None


class Outbound(Protocol):
    """An adapter's way to post without an incoming message (scheduled posts)."""

    platform: str

    async def open(self, target: Target) -> Reply:
        """A Reply posting into `target`; raises UserError if Muse cannot post there."""
        ...

    async def channel_name(self, target: Target) -> str:
        """A human name for the channel (for prompt templates)."""
        ...
