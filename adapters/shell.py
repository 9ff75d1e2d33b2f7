"""A terminal chat: each line is a message in channel `shell:local`.

Usable by a person at a terminal and by a script through a pipe: lines are handled in
order, each reply is written as `muse> ...` on its own line, and the shell exits after
the last reply once input ends.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TextIO

from adapters.shell_files import read_local_file
from core.chat.events import Message
from core.chat.reply import Attachment, Sent, Target
from core.chat.service import Muse
from core.commands.registry import parse_command_line
from core.errors import UserError

PROMPT = "you> "
REPLY_PREFIX = "muse> "
CHANNEL = "local"  # the shell's only channel

log = logging.getLogger(__name__)


class ShellReply:
    def __init__(self, out: TextIO, image_dir: Path, ids: itertools.count[int]) -> None:
        self.out = out
        self.image_dir = image_dir
        self._ids = ids

    def _sent(self, text: str) -> Sent:
        return Sent((f"shell-{next(self._ids)}",), text)

    async def send(self, text: str, *, ephemeral: bool = False) -> Sent:
        self.out.write(f"{REPLY_PREFIX}{text}\n")
        self.out.flush()
        return self._sent(text)

    async def stream(self, pieces: AsyncIterator[str]) -> Sent:
        self.out.write(REPLY_PREFIX)
        self.out.flush()
        parts: list[str] = []
        try:
            async for piece in pieces:
                parts.append(piece)
                self.out.write(piece)
                self.out.flush()
        finally:
            self.out.write("\n")
            self.out.flush()
        return self._sent("".join(parts))

    async def status(self, text: str) -> None:
        self.out.write(f"… {text}\n")
        self.out.flush()

    async def working(self) -> None:
        return None  # the reply streams in at once; nothing to show before it

    async def upload(self, files: list[Attachment], text: str) -> Sent:
        self.image_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for file in files:
            path = self.image_dir / file.filename
            path.write_bytes(file.data)
            paths.append(str(path.resolve()))
        lines = [text, *paths] if text else paths
        return await self.send("\n".join(lines))


class ShellOutbound:
    """Unprompted posts (scheduled ones) into the terminal: the channel `shell:local`."""

    platform = "shell"

    def __init__(self, reply: ShellReply) -> None:
        self.reply = reply

    async def open(self, target: Target) -> ShellReply:
        if target.channel != CHANNEL or target.workspace or target.thread:
            raise UserError(f"The shell has only the channel '{CHANNEL}'.")
        return self.reply

    async def channel_name(self, target: Target) -> str:
        return CHANNEL


def _reader_thread(stream: TextIO, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
    """Lines of stdin, then None. Bytes that are not UTF-8 become U+FFFD whatever the
    locale's error handler, and EOF is always delivered, even if reading fails."""
    # A daemon thread, so a blocked terminal read never holds up exit.
    raw = getattr(stream, "buffer", None)
    try:
        if raw is not None:
            for data in iter(raw.readline, b""):
                text = data.decode("utf-8", errors="replace")
                loop.call_soon_threadsafe(queue.put_nowait, text)
        else:
            for line in iter(stream.readline, ""):
                loop.call_soon_threadsafe(queue.put_nowait, line)
    except (OSError, ValueError) as exc:  # a closed or broken stdin ends the chat
        log.warning("terminal input ended: %s", exc)
    finally:
        loop.call_soon_threadsafe(queue.put_nowait, None)


class ShellAdapter:
    platform = "shell"

    def __init__(
        self,
        muse: Muse,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        image_dir: Path = Path("muse-images"),
        user: str = "you",
    ) -> None:
        self.muse = muse
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.interactive = self.stdin.isatty()
        self.user = user
        self.reply = ShellReply(self.stdout, image_dir, itertools.count(1))
        self._line_ids = itertools.count(1)
        muse.outbounds[self.platform] = ShellOutbound(self.reply)
        muse.fetchers[self.platform] = read_local_file

    def message(self, text: str) -> Message:
        return Message(
            platform="shell",
            channel=CHANNEL,
            author_id=self.user,
            author_name=self.user,
            text=text,
            message_id=f"in-{next(self._line_ids)}",
            platform_admin=True,  # whoever holds the terminal runs the bot
            channel_name=CHANNEL,
        )

    async def handle_line(self, line: str) -> bool:
        """Handle one input line; False when the user asked to quit."""
        text = line.strip()
        if not text:
            return True
        if text in ("/quit", "/exit"):
            return False
        command = parse_command_line(text)
        if command is not None:
            name, args = command
            await self.muse.run_command(name, self.message(args), self.reply)
        else:
            await self.muse.handle_message(self.message(text), self.reply)
        return True

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        threading.Thread(target=_reader_thread, args=(self.stdin, loop, queue), daemon=True).start()
        if self.interactive:
            self.stdout.write("Muse shell — type a message, /help for commands, Ctrl-D to quit.\n")
        while True:
            if self.interactive:
                self.stdout.write(PROMPT)
                self.stdout.flush()
            line = await queue.get()
            if line is None or not await self.handle_line(line):
                break
