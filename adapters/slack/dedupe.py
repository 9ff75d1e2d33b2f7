"""Each delivery handled once.

Slack retries an event it thinks was not acknowledged (up to three times, with
X-Slack-Retry-Num), and Bolt does not deduplicate, so events are remembered by event_id.
A channel message that mentions Muse also arrives twice under different event_ids (as
`app_mention` and as `message`); the chat listener claims it by channel + ts instead.
Memory only: after a restart Slack's retries of old events are long over.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

TTL_SECONDS = 15 * 60  # Slack's last retry comes about 5 minutes after the first try
MAX_KEYS = 20_000


class RecentKeys:
    """A bounded set of keys seen in the last `ttl` seconds."""

    def __init__(self, ttl: float = TTL_SECONDS, max_keys: int = MAX_KEYS) -> None:
        self.ttl = ttl
        self.max_keys = max_keys
        self._seen: OrderedDict[str, float] = OrderedDict()

    def claim(self, key: str) -> bool:
        """True the first time `key` is seen (within the ttl), False after that."""
        now = time.monotonic()
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if now - at < self.ttl and len(self._seen) < self.max_keys:
                break
            del self._seen[oldest]
        if key in self._seen:
            return False
        self._seen[key] = now
        return True


def dedupe_middleware(seen: RecentKeys) -> Callable[..., Awaitable[Any]]:
    """A Bolt global middleware: a repeated event_id is acknowledged and goes no further."""

    async def skip_repeated_events(
        body: dict[str, Any], ack: Callable[..., Awaitable[Any]], next: Callable[[], Awaitable[Any]]
    ) -> Any:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not seen.claim(f"event:{event_id}"):
            return await ack()
        return await next()

    return skip_repeated_events
