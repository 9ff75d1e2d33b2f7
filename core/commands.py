"""Chat commands shared by every adapter (`/forget`, `/persona`, `/imagine`, …).

Feature modules register handlers; adapters hand over the command name and its raw
argument text (the shell's line, Slack's `command.text`) or, for typed platforms like
Discord's app commands, call the feature's typed function directly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import OptionError
from core.events import Message
from core.reply import Reply

if TYPE_CHECKING:
    from core.service import Muse


@dataclass
class CommandContext:
    muse: Muse
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

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(sorted(self._commands.values(), key=lambda c: c.name))

    def resolve(self, name: str) -> Command:
        command = self._commands.get(name)
        if command is None:
            known = ", ".join(f"/{c}" for c in sorted(self._commands))
            raise OptionError(f"unknown command /{name}; known commands: {known}")
        return command


def split_command_line(line: str) -> tuple[str, str]:
    """'/imagine a cat --seed 1' -> ('imagine', 'a cat --seed 1')."""
    body = line.strip()[1:]
    name, _, args = body.partition(" ")
    return name.strip().lower(), args.strip()
