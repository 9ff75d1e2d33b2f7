"""Muse's platform-agnostic core: what adapters call for messages and commands."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from core.commands import CommandContext, CommandRegistry
from core.device import DeviceArbiter
from core.errors import UserError
from core.events import Message
from core.memory import Memory
from core.policy import Policy
from core.prompt import Turn, build_prompt
from core.reply import Outbound, Reply, Sent
from core.settings import PolicySettings, TextSettings
from core.text_engine import TextEngine, generation_settings

log = logging.getLogger(__name__)


def new_error_id() -> str:
    return uuid.uuid4().hex[:8]


@dataclass
class Muse:
    memory: Memory
    text_engine: TextEngine
    arbiter: DeviceArbiter
    text_settings: TextSettings = field(default_factory=TextSettings)
    policy: Policy = field(default_factory=lambda: Policy(PolicySettings()))
    image_engine: Any = None
    image_settings: Any = None
    commands: CommandRegistry = field(default_factory=CommandRegistry)
    # Filled by adapters as they start: platform name -> outbound poster.
    outbounds: dict[str, Outbound] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from core import chat_commands

        chat_commands.register(self.commands)
        if self.image_engine is not None:
            from core import image_commands

            image_commands.register(self.commands)

    # -- chat -----------------------------------------------------------------------------

    async def persona_for(self, conversation: str) -> str:
        return await self.memory.get_persona(conversation) or self.text_settings.system_prompt

    async def handle_message(self, msg: Message, reply: Reply) -> Sent | None:
        """Answer one message addressed to Muse, streaming the reply; store both sides."""
        if msg.author_is_bot or not self.policy.may_talk(msg):
            return None
        text = msg.text.strip()
        if not text:
            return await reply.send("You mentioned me without a message — what should I say?")
        key = msg.session_id
        history = [
            Turn(m.role, m.content, m.author_name)
            for m in await self.memory.recent(key, self.text_settings.history_messages)
        ]
        try:
            prompt = build_prompt(
                self.text_engine.tokenizer,
                await self.persona_for(key),
                history,
                Turn("user", text, msg.display_name),
                self.text_settings.prompt_tokens,
                self.text_settings.trim_chunk_turns,
            )
        except UserError as exc:
            return await reply.send(str(exc))
        # Stored before generating: a crash mid-reply must not lose what the user said.
        await self.memory.add_message(
            key,
            "user",
            text,
            author_id=msg.author_id,
            author_name=msg.display_name,
            platform_message_id=msg.message_id,
        )
        collected: list[str] = []

        async def pieces() -> AsyncIterator[str]:
            gen = generation_settings(self.text_settings)
            async for piece in self.text_engine.stream(prompt.ids, gen, cache_key=key):
                collected.append(piece)
                yield piece

        try:
            sent = await reply.stream(pieces())
        except Exception:
            return await self._apologize(reply, "reply to %s in %s", msg.message_id, key)
        final = "".join(collected)
        if final:
            await self.memory.add_message(
                key,
                "assistant",
                final,
                author_name="Muse",
                platform_message_id=sent.first_id,
            )
        return sent

    # -- commands -------------------------------------------------------------------------

    async def run_command(self, name: str, msg: Message, reply: Reply) -> None:
        """Run `/name` with `msg.text` as its argument text; errors become replies."""
        try:
            command = self.commands.resolve(name)
            if command.admin_only:
                self.policy.require_admin(msg, f"/{name}")
            await command.handler(CommandContext(self, msg, reply), msg.text)
        except UserError as exc:
            await reply.send(str(exc), ephemeral=True)
        except Exception:
            await self._apologize(reply, "command /%s in %s", name, msg.session_id)

    async def _apologize(self, reply: Reply, what: str, *args: object) -> Sent | None:
        error_id = new_error_id()
        log.exception("error %s while handling " + what, error_id, *args)
        try:
            return await reply.send(
                f"Sorry, something went wrong on my side (error id {error_id}).", ephemeral=True
            )
        except Exception:
            log.exception("error %s: could not even send the apology", error_id)
            return None

    async def close(self) -> None:
        await self.arbiter.close()
        await self.memory.close()
