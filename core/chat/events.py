"""The one normalized incoming message every adapter produces."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["IncomingFile", "Message", "conversation_key"]


def _part(value: str) -> str:
    # Keys are split on ":"; escape it (and "%") so ids can never collide across levels.
    escaped = value.replace("%", "%25").replace(":", "%3A")
    return "%2D" if escaped == "-" else escaped  # "-" alone means "no workspace"


def conversation_key(
    platform: str, workspace: str | None, channel: str, thread: str | None = None
) -> str:
    """`platform[:workspace]:channel[:thread]` — the memory key of one conversation.

    Workspace is a Discord guild or Slack team (None for DMs and the shell); thread is a
    Discord thread id or a Slack `thread_ts`.
    """
    parts = [platform]
    parts.append(_part(workspace) if workspace else "-")
    parts.append(_part(channel))
    if thread:
        parts.append(_part(thread))
    return ":".join(parts)


@dataclass(frozen=True)
class IncomingFile:
    """A file attached to an incoming message, as the platform describes it.

    Only a reference: the bytes are fetched later, by the core, through the fetcher the
    message's adapter registered (`Muse.fetchers[platform]`), which knows the platform's
    hosts and auth. `size` and `content_type` are what the platform *says*; the size caps a
    download before it starts, the type is only a hint (magic bytes decide).
    """

    name: str
    url: str
    size: int | None = None
    content_type: str = ""


@dataclass(frozen=True)
class Message:
    """An incoming chat message, already translated from the platform's event."""

    platform: str
    channel: str
    author_id: str
    text: str
    workspace: str | None = None
    thread: str | None = None
    author_name: str = ""
    addressed: bool = True
    message_id: str | None = None
    is_dm: bool = False
    author_is_bot: bool = False
    # Platform roles of the author (Discord role ids); used by the policy layer.
    roles: tuple[str, ...] = field(default_factory=tuple)
    # Set by an adapter when the platform itself says the author administers the space
    # (Discord "Manage Server", Slack workspace admin, the local shell user).
    platform_admin: bool = False
    channel_name: str = ""
    # Slack: the message is at a channel's top level and Muse's answer starts a thread
    # under it (`thread` is then that new thread). Memory counts it as said in the channel.
    starts_thread: bool = False
    # Files (pictures, documents) posted with the message, as references.
    attachments: tuple[IncomingFile, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        # Lone surrogates (undecodable bytes under `surrogateescape`) cannot be tokenized
        # or stored as UTF-8; they become "?" here, once, for every adapter.
        clean = self.text.encode("utf-8", errors="replace").decode("utf-8")
        if clean != self.text:
            object.__setattr__(self, "text", clean)

    @property
    def conversation(self) -> str:
        """The conversation key this message belongs to (see conversation_key)."""
        return conversation_key(self.platform, self.workspace, self.channel, self.thread)

    @property
    def display_name(self) -> str:
        return self.author_name or self.author_id
