"""Make one scheduled post: render the prompt, generate text and/or image, post, remember.

What was generated is kept on the object, so a retry after a platform error re-posts the
same content instead of generating again.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from core.chat.prompt import Turn, build_prompt
from core.chat.reply import Attachment, Outbound, Sent
from core.errors import UserError
from core.image.options import ImagineOptions, validate_imagine
from core.schedule.model import Schedule, render_prompt
from core.text.engine import generation_settings

if TYPE_CHECKING:
    from core.chat.service import Muse

log = logging.getLogger(__name__)


class NotConnected(Exception):
    """The platform's adapter has not registered its outbound (yet): worth retrying."""


def outbound_for(muse: Muse, platform: str) -> Outbound:
    outbound = muse.outbounds.get(platform)
    if outbound is None:
        raise NotConnected(f"no {platform} adapter is running, so Muse cannot post there")
    return outbound


async def generate_text(muse: Muse, persona: str, prompt_text: str, where: str) -> str:
    prompt = build_prompt(
        muse.text_engine.tokenizer,
        persona,
        [],  # a scheduled post stands alone: no chat history in its prompt
        Turn("user", prompt_text),
        muse.text_settings.prompt_tokens,
        muse.text_settings.trim_chunk_turns,
    )
    pieces = muse.text_engine.generate(prompt, generation_settings(muse.text_settings))
    text = "".join([p async for p in muse.moderator.filter_stream(pieces, where)]).strip()
    if not text:
        raise RuntimeError("the text model produced an empty post")
    return text


async def generate_image(muse: Muse, prompt_text: str) -> bytes:
    if muse.image_engine is None:
        raise UserError("image generation is not enabled in this Muse")
    settings = muse.image_settings
    # Built directly, not parsed: words like "--seed" in a template are prompt text here.
    options = validate_imagine(
        ImagineOptions(prompt=prompt_text[: settings.max_prompt_chars], count=1), settings
    )
    result = await muse.image_engine.generate(options)
    if not result.delivered:  # a new seed on retry may well pass
        raise RuntimeError("the safety filter blocked the picture")
    return result.delivered[0].png


class ScheduledPost:
    def __init__(self, muse: Muse, schedule: Schedule, fire_time: datetime) -> None:
        self.muse = muse
        self.schedule = schedule
        # The slot in the schedule's own timezone: what {date} and {time} mean.
        self.local_time = fire_time.astimezone(schedule.trigger().timezone)
        self.prompt_text: str | None = None
        self.text: str | None = None
        self.image: bytes | None = None

    async def run(self) -> Sent:
        s = self.schedule
        outbound = outbound_for(self.muse, s.target.platform)
        reply = await outbound.open(s.target)
        if self.prompt_text is None:
            channel = await outbound.channel_name(s.target)
            self.prompt_text = render_prompt(s.prompt, self.local_time, channel)
            self.muse.moderator.check_prompt(self.prompt_text, s.conversation)
        if s.wants_text and self.text is None:
            persona = s.persona or await self.muse.persona_for(s.conversation)
            self.text = await generate_text(self.muse, persona, self.prompt_text, s.conversation)
        if s.wants_image and self.image is None:
            self.image = await generate_image(self.muse, self.prompt_text)
        if self.image is not None:
            name = f"muse-schedule-{s.id}-{self.local_time:%Y%m%d-%H%M}.png"
            sent = await reply.upload([Attachment(name, self.image)], self.text or "")
        else:
            sent = await reply.send(self.text or "")
        await self._remember(sent)
        return sent

    async def _remember(self, sent: Sent) -> None:
        """Store the post in the channel's memory, so follow-up mentions can refer to it."""
        content = self.text or ""
        if self.image is not None:
            content = f"{content}\n[posted an image of: {self.prompt_text}]".strip()
        try:
            await self.muse.memory.add_message(
                self.schedule.conversation,
                "assistant",
                content,
                author_name="Muse",
                platform_message_id=sent.first_id,
            )
        except Exception:  # it is posted; a memory hiccup must not make it post again
            log.exception("schedule %s: posted, but could not store it", self.schedule.id)
