"""Muse's platform-agnostic core: what adapters call for messages and commands."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from core.chat import regenerate as regen
from core.chat.events import Message
from core.chat.feedback import Reaction
from core.chat.prompt import Turn
from core.chat.recall import Recall
from core.chat.reply import Outbound, Reply, Sent, Target
from core.chat.scope import channel_key
from core.chat.seeing import ASK_ABOUT_FILES, Seeing
from core.commands.registry import CommandContext, CommandRegistry
from core.errors import Busy, PermissionDenied, Terms, UserError
from core.fair_use.admission import Admission, Ticket
from core.fair_use.guard import Guard
from core.fair_use.moderation import Moderator, Refused
from core.fair_use.policy import Policy
from core.fair_use.quotas import OverLimit, Quotas
from core.fair_use.settings import LimitSettings, PolicySettings
from core.files.settings import FileSettings
from core.image.engine import ImageEngine
from core.image.options import ImageSettings
from core.memory.settings import MemorySettings
from core.memory.store import Memory
from core.runtime import metrics
from core.runtime.device import DeviceArbiter
from core.runtime.request_id import current_request_id, new_request_id, request_scope
from core.text.backend import StreamInterrupted, TextBackend, TextStream
from core.text.catalog import TextModels
from core.text.engine import generation_settings
from core.text.settings import TextSettings
from core.text.vision import VisionEngine
from core.text.vision_settings import VisionSettings
from core.tuning import record
from core.tuning.generations import Generations

log = logging.getLogger(__name__)
POSITION_POLL_SECONDS = 2.0
INTERRUPTED_MARK = " … (interrupted: Muse is stopping)"
CUT_SHORT_MARK = " … (cut short: the model server stopped mid-reply)"
STOPPING = "Muse is stopping; please ask again once it is back."
# What people see when the model ends its reply before any text (no platform takes an
# empty message, and memory should hold what was shown).
EMPTY_REPLY = "(no answer: the model ended its reply before writing anything)"

# A command called with typed options: the feature's typed function, bound to them.
TypedCall = Callable[[CommandContext], Awaitable[object]]


def new_error_id() -> str:
    """The id an apology names: the request's own id (its log lines carry it too)."""
    return current_request_id() or new_request_id()


def outcome_of(exc: UserError) -> str:
    """Why a request was refused, as the requests metric's `outcome` says it."""
    if isinstance(exc, Busy):
        return "busy"
    if isinstance(exc, OverLimit):
        return "quota"
    if isinstance(exc, Refused):
        return "moderation"
    if isinstance(exc, PermissionDenied):
        return "denied"
    return "rejected"


def command_kind(name: str) -> str:
    return "image" if name == "imagine" else "command"


@dataclass
class Muse:
    memory: Memory
    text_engine: TextBackend
    arbiter: DeviceArbiter
    text_settings: TextSettings = field(default_factory=TextSettings)
    policy: Policy = field(default_factory=lambda: Policy(PolicySettings()))
    limits: LimitSettings = field(default_factory=LimitSettings)
    moderator: Moderator = field(default_factory=Moderator)
    guard: Guard | None = None  # [guard]: a safety classifier on prompts and/or replies
    image_engine: ImageEngine | None = None
    image_settings: ImageSettings | None = None
    memory_settings: MemorySettings = field(default_factory=MemorySettings)
    commands: CommandRegistry = field(default_factory=CommandRegistry)
    # [[text.models]] admins may pick per channel (/model); None: [text]'s model only.
    models: TextModels | None = None
    # Pictures and documents posted with messages (core/chat/seeing.py).
    file_settings: FileSettings = field(default_factory=FileSettings)
    vision_engine: VisionEngine | None = None
    vision_settings: VisionSettings = field(default_factory=VisionSettings)
    # Why there is no vision engine, as "I can't see pictures: <why>" says it.
    vision_missing: str = "this Muse runs without a vision model"
    # Filled by adapters as they start: platform name -> outbound poster.
    outbounds: dict[str, Outbound] = field(default_factory=dict)
    closing: bool = False  # shutting down: no new work
    # Set when shutdown cannot wait any longer: replies being written end where they are,
    # with INTERRUPTED_MARK, and are stored as shown.
    interrupting: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        remote = self.text_settings.backend == "openai"
        slots = self.text_settings.max_in_flight if remote else self.text_settings.max_batch_size
        self.admission = Admission(self.limits.queue_depth, slots)
        self.quotas = Quotas(self.limits, self.policy, self.memory.connection)
        self.generations = Generations(self.memory.connection)
        self.seeing = Seeing(self.file_settings, self.memory)
        self.recall = Recall(
            self.memory, self.text_engine, self.text_settings, self.memory_settings, self.policy
        )
        self.recall.references = self.seeing.references  # files' text, read again

    @property
    def fetchers(self) -> dict[str, Any]:
        """Platform name -> how to download its files; filled by adapters as they start."""
        return self.seeing.fetchers

    # -- fair use ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def work(self, msg: Message, reply: Reply, kind: str) -> AsyncIterator[Ticket]:
        """Admit one unit of GPU work: limits, queue depth, place-in-line updates, /cancel.

        Raises UserError (over a limit, busy, shutting down) before any work starts; once
        admitted, tells the reply the answer is on its way (`Reply.working`).
        """
        if self.closing:
            raise UserError("I'm shutting down for a moment; please ask again shortly.")
        await self.quotas.admit(msg, kind)
        ticket = self.admission.enter(kind, Quotas.user_key(msg))
        watcher: asyncio.Task[None] | None = None
        try:
            await reply.working()  # accepted: from here on the answer is on its way
            watcher = asyncio.create_task(self._report_position(ticket, reply))
            yield ticket
        finally:
            if watcher is not None:
                watcher.cancel()
            self.admission.leave(ticket)

    async def _report_position(self, ticket: Ticket, reply: Reply) -> None:
        last = None
        while ticket.started is None:
            wait = self.admission.estimated_wait(ticket)
            place = self.admission.position(ticket)
            if wait > 0 and wait >= self.limits.notify_wait_seconds and place != last:
                last = place
                await reply.status(f"You're #{place} in line — about {wait:.0f} s.")
            await asyncio.sleep(POSITION_POLL_SECONDS)

    def cancel_requests(self, msg: Message) -> int:
        return self.admission.cancel_user(Quotas.user_key(msg))

    # -- chat -----------------------------------------------------------------------------

    async def text_for(self, conversation: str) -> TextBackend:
        """The text backend this conversation's /model choice names (else [text]'s)."""
        if self.models is not None:
            entry = self.models.get(await self.memory.get_channel_model(conversation))
            if entry is not None:  # a name no longer configured: back to the default
                return entry.backend
        return self.text_engine

    def forget_cached(self, conversation: str) -> None:
        """Drop the conversation's cached prefix in every model (after /forget, /persona)."""
        if self.models is not None:
            self.models.forget(conversation)
        else:
            self.text_engine.forget(conversation)

    async def persona_for(self, conversation: str) -> str:
        return await self.memory.get_persona(conversation) or self.text_settings.system_prompt

    async def adapter_for(self, conversation: str, engine: TextBackend | None = None) -> str | None:
        """The LoRA persona bound with /persona set --adapter, if the engine (the
        conversation's /model, else [text]'s) still has it."""
        return record.loaded_adapter(
            await self.memory.get_persona_adapter(conversation),
            (engine or self.text_engine).adapters,
        )

    async def handle_message(self, msg: Message, reply: Reply) -> Sent | None:
        """Answer one message addressed to Muse, streaming the reply; store both sides."""
        if msg.author_is_bot or not self.policy.may_talk(msg):
            return None
        with request_scope():
            return await self._handle_message(msg, reply)

    async def _handle_message(self, msg: Message, reply: Reply) -> Sent | None:
        text = msg.text.strip()
        if not text and not msg.attachments:
            received = time.monotonic()
            sent = await reply.send("You mentioned me without a message — what should I say?")
            metrics.request_finished(msg.platform, "text", "rejected", time.monotonic() - received)
            return sent
        text = text or ASK_ABOUT_FILES

        async def answer() -> Sent:
            self.moderator.check_prompt(text, msg.conversation)
            async with self.work(msg, reply, "text") as ticket:
                return await self._answer(msg, reply, text, ticket)

        what = f"reply to {msg.message_id} in {msg.conversation}"
        return await self._replying(msg, reply, answer, what)

    async def _replying(
        self, msg: Message, reply: Reply, answer: Callable[[], Awaitable[Sent]], what: str
    ) -> Sent | None:
        """Run one text answer: refusals, /cancel and errors become replies; the outcome is
        counted in the requests metric."""
        received, outcome = time.monotonic(), "rejected"
        try:
            sent = await answer()
            outcome = "answered"
            return sent
        except UserError as exc:
            outcome = outcome_of(exc)
            return await reply.send(str(exc), ephemeral=True)
        except asyncio.CancelledError:
            outcome = "cancelled"
            if not await self._cancelled(reply):
                raise
            return None
        except Exception:
            outcome = "error"
            return await self._apologize(reply, "%s", what)
        finally:
            metrics.request_finished(msg.platform, "text", outcome, time.monotonic() - received)

    async def _answer(self, msg: Message, reply: Reply, text: str, ticket: Ticket) -> Sent:
        if self.guard is not None:
            await self.guard.check_prompt(text, msg.conversation)
        # The channel's /model (core/text/catalog.py) answers, and counts the budget.
        engine = await self.text_for(channel_key(msg))
        budget = self.text_settings.prompt_tokens // 2  # for files' text
        incoming = await self.seeing.read(msg, engine.tokenizer, budget)
        # Summary, own turns, channel context and files' text (core/chat/recall.py).
        key, prompt, persona, quoted, stored = await self.recall.prompt(
            msg, text + incoming.blocks, engine
        )
        adapter = await self.adapter_for(key, engine)
        # Pictures (posted now, or earlier and still in the history) go to the vision model,
        # with the conversation's own turns (the ones Recall read).
        history, files = await self.seeing.history(stored)
        new = Turn("user", text + incoming.blocks, msg.display_name)
        looking = await self.seeing.vision_plan(
            self, msg.platform, persona, history, files, new, incoming
        )
        text_prompt = None if looking is not None else prompt
        # Stored before generating: a crash mid-reply must not lose what the user said.
        row = await self.memory.add_message(
            key,
            "user",
            text,
            author_id=msg.author_id,
            author_name=msg.display_name,
            platform_message_id=msg.message_id,
        )
        if incoming.stored:
            await self.memory.add_attachments(row, key, incoming.stored)
        collected: list[str] = []
        tokens = 0

        async def pieces() -> AsyncIterator[str]:
            nonlocal tokens
            if incoming.note:
                yield incoming.note  # what was left out of the files, before the answer
            gen = generation_settings(self.text_settings)
            if text_prompt is None:
                assert self.vision_engine is not None  # vision_plan made inputs for it
                stream = TextStream(self.vision_engine.stream(looking, gen))
            else:
                stream = engine.generate(prompt, gen, cache_key=key, adapter=adapter)
            shown = 0
            try:
                async for piece in stream:
                    if ticket.started is None:
                        self.admission.start(ticket)
                        metrics.first_token(time.monotonic() - ticket.arrived)
                    shown += 1
                    tokens = stream.tokens or shown
                    yield piece
                    if self.interrupting.is_set():
                        await stream.aclose()  # the engine drops the request at its next step
                        yield INTERRUPTED_MARK
                        return
            except StreamInterrupted as exc:  # kept as shown, and marked as cut short
                log.warning("reply in %s cut short: %s", key, exc)
                yield CUT_SHORT_MARK
            finally:
                # What the engine counted (a server's `usage`); pieces where it counts none.
                tokens = stream.tokens or shown
            if not shown:
                yield EMPTY_REPLY

        async def moderated() -> AsyncIterator[str]:
            source = pieces()
            if self.guard is not None:
                source = self.guard.filter_reply(source, text, key)
            async for piece in self.moderator.filter_stream(source, key):
                collected.append(piece)
                yield piece

        try:
            sent = await reply.stream(moderated())
        finally:
            await self.quotas.record(msg, "text", tokens)
        final = "".join(collected)
        if final:
            await self.memory.add_message(
                key, "assistant", final, author_name="Muse", platform_message_id=sent.first_id
            )
            # Kept for tuning where the text model answered (a prompt with pictures is not
            # a chat-messages record the feedback export can replay).
            marks = (INTERRUPTED_MARK, CUT_SHORT_MARK, EMPTY_REPLY)
            if text_prompt is not None and record.worth_keeping(final, marks):
                await self.generations.record(
                    key,
                    prompt.messages,
                    final,
                    sent.message_ids,
                    asker=f"{msg.platform}:{msg.author_id}",
                    authors=quoted,
                    persona=record.persona_label(persona, self.text_settings, adapter),
                    adapter=adapter,
                    model=engine.model_name,
                )
        return sent

    async def regenerate(
        self, msg: Message, reply: Reply, message_id: str | None = None
    ) -> Sent | None:
        """A new reply to the prompt of Muse's reply `message_id` (None: its latest here);
        both are kept (core/chat/regenerate.py). Errors become replies, as for messages."""
        if not self.policy.may_talk(msg):
            return None
        with request_scope():
            return await self._replying(
                msg,
                reply,
                lambda: regen.regenerate(self, msg, reply, message_id),
                f"regeneration in {msg.conversation}",
            )

    async def regenerate_reaction(self, reaction: Reaction) -> None:
        """🔄 on one of Muse's replies: the new reply goes where that reply is."""
        r = reaction
        outbound = self.outbounds.get(r.platform)
        if outbound is None:
            log.warning("%s: 🔄 but no outbound poster for the platform", r.platform)
            return
        msg = Message(
            platform=r.platform,
            channel=r.channel,
            author_id=r.user_id,
            text="",
            workspace=r.workspace,
            thread=r.thread,
        )
        found = await self.generations.by_reply(r.message_id)
        thread = regen.thread_of(found.conversation) if found is not None else r.thread
        try:
            reply = await outbound.open(Target(r.platform, r.channel, r.workspace, thread))
        except UserError as exc:
            log.info("%s: cannot regenerate in %s: %s", r.platform, r.channel, exc)
            return
        await self.regenerate(msg, reply, r.message_id)

    # -- commands -------------------------------------------------------------------------

    async def run_command(
        self,
        name: str,
        msg: Message,
        reply: Reply,
        *,
        typed: TypedCall | None = None,
        terms: Terms = "flags",
    ) -> None:
        """Run `/name` with `msg.text` as its argument text, or, for adapters with typed
        options (Discord's app commands), as `typed(ctx)`, which calls the feature's typed
        function (e.g. `run_imagine(ctx, options)`). Either way the command must be offered
        and permitted, and errors become replies, seen by the user alone and worded in
        the surface's `terms` (`--width` where options are typed, `width` in a form)."""
        received, outcome = time.monotonic(), "rejected"
        with request_scope():
            try:
                self.policy.require_talk(msg)  # blocked users, channels outside the allow-list
                command = self.commands.resolve(name)
                if command.admin_only:
                    self.policy.require_admin(msg, f"/{name}")
                ctx = CommandContext(self, msg, reply)
                await (typed(ctx) if typed is not None else command.handler(ctx, msg.text))
                outcome = "answered"
            except UserError as exc:
                outcome = outcome_of(exc)
                await reply.send(exc.in_terms(terms), ephemeral=True)
            except asyncio.CancelledError:
                outcome = "cancelled"
                if not await self._cancelled(reply):
                    raise
            except Exception:
                outcome = "error"
                await self._apologize(reply, "command /%s in %s", name, msg.conversation)
            finally:
                seconds = time.monotonic() - received
                metrics.request_finished(msg.platform, command_kind(name), outcome, seconds)

    async def _cancelled(self, reply: Reply) -> bool:
        """Tell the user their request was cancelled; True if it was their own /cancel
        (the task carries on), False if Muse is shutting down (the caller re-raises)."""
        task = asyncio.current_task()
        own = not self.closing and task is not None and task.cancelling() > 0
        text = "Cancelled." if own else STOPPING
        if own and task is not None:
            task.uncancel()
        with contextlib.suppress(Exception):
            await reply.send(text, ephemeral=True)
        return own

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
        await self.recall.close()  # summaries being written are dropped (turns stay stored)
        if self.models is not None:
            await self.models.close()
        await self.text_engine.close()
        await self.arbiter.close()
        await self.memory.close()
