"""One id per handled request (a chat message, a command, a scheduled post), kept in a
context variable: every log line written while handling it carries the id (the JSON log
format shows it as `request_id`), and the error id a user is shown is that same id, so an
operator finds the whole story of "error id 3f9c2a1b" with one search.

Tasks started while handling a request inherit the id (asyncio copies the context).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar

__all__ = ["current_request_id", "new_request_id", "request_scope"]

_REQUEST_ID: ContextVar[str | None] = ContextVar("muse_request_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex[:8]


def current_request_id() -> str | None:
    return _REQUEST_ID.get()


@contextlib.contextmanager
def request_scope(request_id: str | None = None) -> Iterator[str]:
    """Handle one request under `request_id` (a fresh one if None)."""
    rid = request_id or new_request_id()
    token = _REQUEST_ID.set(rid)
    try:
        yield rid
    finally:
        _REQUEST_ID.reset(token)
