"""What the Slack listeners and the outbound share: the core, the Web API client, the
pacer, the stores, who Muse is in this workspace, and the background tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.common.image_requests import ImageRequestStore
from adapters.common.pacing import ChannelPacer
from adapters.common.threads import ThreadStore
from adapters.slack.dedupe import RecentKeys
from adapters.slack.people import People
from adapters.slack.reply import ImagePostHook, Respond, SlackReply, Where
from adapters.slack.settings import SlackSettings
from core.chat.service import Muse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    """From auth.test at start-up."""

    user_id: str  # Muse's bot user (mentions, its own messages)
    bot_id: str  # Muse's bot id (bot_message events)
    team_id: str


@dataclass
class SlackContext:
    muse: Muse
    settings: SlackSettings
    client: AsyncWebClient
    pacer: ChannelPacer
    threads: ThreadStore
    people: People
    seen: RecentKeys
    requests: ImageRequestStore  # behind the buttons under pictures
    identity: Identity | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def me(self) -> Identity:
        assert self.identity is not None, "used before start-up"
        return self.identity

    def reply_in(
        self,
        where: Where,
        *,
        respond: Respond | None = None,
        private: bool = False,
        images: ImagePostHook | None = None,
    ) -> SlackReply:
        return SlackReply(
            self.client,
            where,
            self.pacer,
            self.settings.max_message_chars,
            respond=respond,
            private=private,
            images=images,
        )

    def spawn(self, work: Coroutine[Any, Any, None], what: str) -> None:
        """Run `work` off the request path (Slack wants its 2xx within 3 s); kept here so
        shutdown can cancel it, and so a failure is logged rather than lost."""
        task = asyncio.create_task(work, name=f"slack: {what}")
        self.tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("slack: %s failed", task.get_name(), exc_info=task.exception())

    async def cancel_tasks(self) -> None:
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
