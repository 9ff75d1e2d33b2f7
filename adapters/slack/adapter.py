"""The SlackAdapter: builds the slack client and its features, serves until cancelled.

See the package docstring (adapters/slack/__init__.py) for the map of modules.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters.common.failures import PlatformFatal, network_error
from adapters.common.image_requests import ImageRequestStore
from adapters.common.pacing import ChannelPacer
from adapters.common.threads import ThreadStore
from adapters.slack.context import Identity, SlackContext
from adapters.slack.dedupe import RecentKeys, dedupe_middleware
from adapters.slack.files import SlackFetcher
from adapters.slack.history import SlackHistory
from adapters.slack.listeners import chat, commands, feedback, imagine
from adapters.slack.observe import CountErrors
from adapters.slack.outbound import SlackOutbound
from adapters.slack.people import People
from adapters.slack.serve import serve_http, serve_socket
from adapters.slack.settings import SlackSettings
from adapters.slack.translate import PLATFORM
from core.chat.service import Muse

__all__ = ["SlackAdapter", "SlackSettings"]

log = logging.getLogger(__name__)
RATE_LIMIT_RETRIES = 3  # slack_sdk waits out Retry-After between them


def build_client(settings: SlackSettings) -> AsyncWebClient:
    base_url = settings.api_url if settings.api_url.endswith("/") else settings.api_url + "/"
    return AsyncWebClient(
        token=settings.bot_token.get_secret_value().strip(),
        base_url=base_url,
        retry_handlers=[
            CountErrors(PLATFORM),  # only counts failed calls, for the metrics
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
            AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
        ],
    )


T = TypeVar("T")
# Slack's answers that only a new token or scope can fix.
REFUSED = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "not_allowed_token_type",
    "missing_scope",
}
RETRYABLE = {"ratelimited", "internal_error", "fatal_error", "service_unavailable"}
FIX_BOT = "install the app again and set SLACK_BOT_TOKEN (xoxb-…) or [slack] bot_token"
FIX_APP = (
    "generate an app-level token with connections:write (Basic Information) and set "
    "SLACK_APP_TOKEN (xapp-…) or [slack] app_token"
)


async def fatal_if_refused(work: Awaitable[T], which: str, fix: str) -> T:
    """Slack refusing a token becomes PlatformFatal; anything else passes through."""
    try:
        return await work
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        if error in REFUSED:
            raise PlatformFatal(PLATFORM, f"Slack refused the {which} ({error})", fix) from exc
        raise


class _BoltNoise(logging.Filter):
    """Two Bolt warnings that are noise for Muse. "token will be unused": Bolt reads
    SLACK_BOT_TOKEN itself, while Muse passes a client on purpose (its retry handlers and
    API base). "Unhandled request": an event type the workspace sends and Muse does not
    use; acknowledged (see serve.py) and noted here at debug level instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if text.startswith("Unhandled request"):
            log.debug("slack: %s", text.splitlines()[0][:200])
            return False
        return "token` will be unused" not in text


logging.getLogger("slack_bolt.AsyncApp").addFilter(_BoltNoise())


class SlackAdapter:
    platform = PLATFORM

    def __init__(self, muse: Muse, settings: SlackSettings) -> None:
        self.muse = muse
        self.settings = settings
        self.client = build_client(settings)
        # Bolt acknowledges events itself before the listeners run
        # (process_before_response=False); the listeners hand their work to tasks.
        self.app = AsyncApp(
            client=self.client,
            signing_secret=settings.signing_secret.get_secret_value().strip(),
            process_before_response=False,
        )
        self.context = SlackContext(
            muse=muse,
            settings=settings,
            client=self.client,
            pacer=ChannelPacer(settings.update_interval_seconds),
            threads=ThreadStore(muse.memory.connection, PLATFORM),
            people=People(self.client),
            seen=RecentKeys(),
            requests=ImageRequestStore(muse.memory.connection, PLATFORM),
        )
        self.outbound = SlackOutbound(self.context)
        self.fetcher = SlackFetcher(settings)
        self.url: str | None = None  # http mode: where events are served, once listening
        self.ready = asyncio.Event()  # set once Slack can reach Muse
        self._registered = False

    @staticmethod
    def configured(settings: SlackSettings) -> bool:
        return settings.configured

    def _register(self) -> None:
        """Listeners are added at start-up, when the core's optional commands (images,
        the scheduler) are known."""
        if self._registered:
            return
        self._registered = True
        self.app.use(dedupe_middleware(self.context.seen))
        chat.register(self.app, self.context)
        commands.register(self.app, self.context)
        imagine.register(self.app, self.context)
        feedback.register(self.app, self.context)

    async def _identify(self) -> Identity:
        """Who Muse is here; a bad token fails the start with Slack's own error."""
        auth = await self.client.auth_test()
        return Identity(str(auth["user_id"]), str(auth.get("bot_id") or ""), str(auth["team_id"]))

    @property
    def connected(self) -> bool:
        """Slack can reach Muse (Socket Mode connected, or HTTP mode listening): /readyz."""
        return self.ready.is_set()

    def _listening(self, url: str) -> None:
        self.url = url
        self.ready.set()

    @staticmethod
    def is_transient(exc: BaseException) -> bool:
        """Worth connecting again: the network, Slack's 5xx or rate limits."""
        if isinstance(exc, SlackApiError):
            status = exc.response.status_code
            return status >= 500 or status == 429 or exc.response.get("error") in RETRYABLE
        return network_error(exc)

    async def run(self) -> None:
        """Serve until cancelled; then stop taking requests and end the work in flight."""
        self.context.identity = await fatal_if_refused(self._identify(), "bot token", FIX_BOT)
        self._register()
        self.muse.outbounds[PLATFORM] = self.outbound
        history = SlackHistory(self.client, self.context.people, self.context.me.user_id)
        self.muse.recall.histories[PLATFORM] = history  # /summarize reads through it
        self.muse.fetchers[PLATFORM] = self.fetcher
        try:
            if self.settings.mode == "http":
                await serve_http(self.app, self.settings, self._listening)
            else:
                connect = serve_socket(self.app, self.settings, self.ready.set)
                await fatal_if_refused(connect, "app-level token", FIX_APP)
        finally:
            self.ready.clear()  # no longer reachable (/readyz)
            if self.muse.outbounds.get(PLATFORM) is self.outbound:
                del self.muse.outbounds[PLATFORM]
            if self.muse.recall.histories.get(PLATFORM) is history:
                del self.muse.recall.histories[PLATFORM]
            if self.muse.fetchers.get(PLATFORM) is self.fetcher:
                del self.muse.fetchers[PLATFORM]
            await self.context.cancel_tasks()
            log.info("slack: stopped")
