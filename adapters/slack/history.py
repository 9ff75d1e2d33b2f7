"""Slack's side of /summarize: a channel's or thread's past messages, from
conversations.history (newest first, `oldest` bound) and conversations.replies (a thread,
oldest first), paged with `cursor` / `response_metadata.next_cursor` as Slack documents.

Apps distributed outside the Marketplace get low limits on these methods (since 2025: 15
messages a page, one call a minute): one read asks for at most `limit` messages, in pages
of up to PAGE, and follows the cursor MAX_PAGES times at most, summarising what it got.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.people import People
from adapters.slack.translate import clean_text
from adapters.slack.triggers import CHAT_SUBTYPES
from core.chat.events import Message
from core.chat.history import HistoryDenied, PastMessage

__all__ = ["MAX_PAGES", "PAGE", "SlackHistory", "denied"]

PAGE = 200  # Slack recommends no more than 200 results a page
MAX_PAGES = 5
SCOPES = "channels:history, groups:history, im:history and mpim:history"


def denied(error: str, needed: str | None) -> HistoryDenied | None:
    """Slack's refusal, worded for the person who asked (None: not a permission problem)."""
    if error == "not_in_channel":
        return HistoryDenied(
            "I'm not a member of this channel, so Slack won't show me its history: "
            "invite me (/invite @Muse) and ask again."
        )
    if error == "missing_scope":
        scope = needed or SCOPES
        return HistoryDenied(
            f"This Slack app may not read message history here (missing scope {scope}); "
            "a workspace admin has to add it and reinstall the app."
        )
    if error == "not_allowed_token_type":
        return HistoryDenied("Slack does not let this app's bot token read that history.")
    if error in ("channel_not_found", "thread_not_found", "access_denied"):
        return HistoryDenied("Slack won't let me read the history of this channel or thread.")
    return None


class SlackHistory:
    def __init__(self, client: AsyncWebClient, people: People, bot_user_id: str) -> None:
        self.client = client
        self.people = people
        self.bot_user_id = bot_user_id

    async def read(
        self, place: Message, *, thread: str | None, since: float | None, limit: int
    ) -> list[PastMessage]:
        raw: list[Mapping[str, Any]] = []
        cursor: str | None = None
        try:
            for _ in range(MAX_PAGES):
                page = min(PAGE, limit - len(raw))
                args: dict[str, Any] = {"channel": place.channel, "limit": page}
                if since is not None:
                    args["oldest"] = f"{since:.6f}"
                if cursor:
                    args["cursor"] = cursor
                if thread:
                    resp = await self.client.conversations_replies(ts=thread, **args)
                else:
                    resp = await self.client.conversations_history(**args)
                raw += resp.get("messages") or []
                cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
                if len(raw) >= limit or not resp.get("has_more") or not cursor:
                    break
        except SlackApiError as exc:
            refusal = denied(str(exc.response.get("error")), exc.response.get("needed"))
            if refusal is None:
                raise
            raise refusal from exc
        raw = sorted(raw[:limit], key=lambda m: float(_ts(m)))  # history pages come newest first
        return [await self._past(m) for m in raw if m.get("subtype") in CHAT_SUBTYPES]

    async def _past(self, message: Mapping[str, Any]) -> PastMessage:
        user = message.get("user")
        if user == self.bot_user_id:
            name, is_bot = "Muse", True
        elif user and not message.get("bot_id"):
            name, is_bot = (await self.people.get(str(user))).name, False
        else:
            profile = message.get("bot_profile") or {}
            name, is_bot = str(profile.get("name") or message.get("username") or "a bot"), True
        text = clean_text(str(message.get("text") or ""), self.bot_user_id, self.people.names())
        return PastMessage(name, text, float(_ts(message)), is_bot)


def _ts(message: Mapping[str, Any]) -> str:
    return str(message.get("ts") or "0")
