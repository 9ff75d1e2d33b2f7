"""Who wrote a message: display names (for the prompt) and admin flags, from users.info.

Cached for an hour: users.info is Tier 4, but a busy thread asks about the same people
over and over. A failed lookup falls back to the bare user id and is not cached.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)
TTL_SECONDS = 3600.0
MAX_CACHED = 5000


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    is_bot: bool = False
    is_admin: bool = False  # workspace admin or owner


class People:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._cache: dict[str, tuple[float, Person]] = {}

    def names(self) -> dict[str, str]:
        """Names known so far (for mentions inside a message; no lookups)."""
        return {uid: person.name for uid, (_, person) in self._cache.items()}

    async def get(self, user_id: str) -> Person:
        cached = self._cache.get(user_id)
        if cached is not None and time.monotonic() - cached[0] < TTL_SECONDS:
            return cached[1]
        try:
            resp = await self.client.users_info(user=user_id)
        except SlackApiError as exc:
            log.warning("slack: users.info %s failed: %s", user_id, exc.response.get("error"))
            return Person(user_id, user_id)
        person = _person(user_id, resp.get("user") or {})
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()  # rare; simpler than LRU bookkeeping
        self._cache[user_id] = (time.monotonic(), person)
        return person


def _person(user_id: str, user: dict) -> Person:
    profile = user.get("profile") or {}
    name = (
        profile.get("display_name")
        or profile.get("real_name")
        or user.get("real_name")
        or user.get("name")
        or user_id
    )
    return Person(
        id=user_id,
        name=str(name),
        is_bot=bool(user.get("is_bot")),
        is_admin=bool(user.get("is_admin") or user.get("is_owner")),
    )
