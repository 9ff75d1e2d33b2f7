"""Chat commands shared by every adapter (`/forget`, `/persona`, `/imagine`, …).

Feature modules register handlers (the wiring in bot/ decides which); adapters hand over
the command name and its raw argument text (the shell's line, Slack's `command.text`)
or, for typed platforms like Discord's app commands, call the feature's typed function.
A handler sees the core through `CommandHost`, the few things commands may use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from core.chat.events import Message
from core.chat.recall import Recall
from core.chat.reply import Reply
from core.errors import OptionError
from core.fair_use.admission import Admission, Ticket
from core.fair_use.guard import Guard
from core.fair_use.moderation import Moderator
from core.fair_use.policy import Policy
from core.fair_use.quotas import Quotas
from core.image.engine import ImageEngine
from core.image.options import ImageSettings
from core.memory.store import Memory
from core.text.backend import TextBackend
from core.text.catalog import TextModels
from core.text.settings import TextSettings
from core.tuning.generations import Generations

__all__ = ["Command", "CommandContext", "CommandHost", "CommandRegistry", "parse_command_line"]


class CommandHost(Protocol):
    """What a command may use of the core (the chat service implements it)."""

    memory: Memory
    recall: Recall
    text_engine: TextBackend
    text_settings: TextSettings
    policy: Policy
    moderator: Moderator
    guard: Guard | None
    generations: Generations
    quotas: Quotas
    admission: Admission
    image_engine: ImageEngine | None
    image_settings: ImageSettings | None
    commands: CommandRegistry
    models: TextModels | None

    def work(self, msg: Message, reply: Reply, kind: str) -> AbstractAsyncContextManager[Ticket]:
        """Admit one unit of GPU work (limits, queue, /cancel)."""
        ...

    def forget_cached(self, conversation: str) -> None: ...

    async def text_for(self, conversation: str) -> TextBackend: ...

    def cancel_requests(self, msg: Message) -> int:
        """Cancel the author's waiting and running requests; how many."""
        ...


@dataclass
class CommandContext:
    muse: CommandHost
    message: Message  # where and by whom; `text` holds the raw argument text
    reply: Reply


Handler = Callable[[CommandContext, str], Awaitable[None]]


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    help: str
    usage: str = ""
    admin_only: bool = False


class CommandRegistry:
    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}

    def add(
        self, name: str, handler: Handler, help: str, usage: str = "", admin_only: bool = False
    ) -> None:
        if name in self._commands:
            raise ValueError(f"command /{name} registered twice")
        self._commands[name] = Command(name, handler, help, usage, admin_only)

    def get(self, name: str) -> Command | None:
        return self._commands.get(name)

    def __iter__(self) -> Iterator[Command]:
        return iter(sorted(self._commands.values(), key=lambda c: c.name))

    def resolve(self, name: str) -> Command:
        command = self._commands.get(name)
        if command is None:
            known = ", ".join(f"/{c}" for c in sorted(self._commands))
            raise OptionError(f"unknown command /{name}; known commands: {known}")
        return command


def parse_command_line(line: str) -> tuple[str, str] | None:
    """A line starting with "/" is a command, on every text platform:
    '/imagine a cat --seed 1' -> ('imagine', 'a cat --seed 1'); anything else -> None."""
    body = line.strip()
    if not body.startswith("/"):
        return None
    name, _, args = body[1:].partition(" ")
    return name.strip().lower(), args.strip()
