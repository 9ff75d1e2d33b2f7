"""JSON log lines (`[logging] format = "json"`): one object per line, and the request id of a
failed request's lines is the error id its user was shown."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from bot.logs import JsonFormatter, RequestIdFilter
from core.chat.service import Muse
from tests.helpers import RecordingReply, msg


@contextlib.contextmanager
def json_log() -> Iterator[io.StringIO]:
    """What the root logger writes, as `[logging] format = "json"` writes it."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield out
    finally:
        root.removeHandler(handler)


async def test_the_error_id_a_user_sees_is_the_request_id_of_its_log_lines(
    muse: Muse, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the model broke")

    monkeypatch.setattr(muse.text_engine, "generate", broken)
    first, second = RecordingReply(), RecordingReply()
    with json_log() as out:
        logging.getLogger("tests").error("outside any request")
        await muse.handle_message(msg("hello"), first)
        await muse.handle_message(msg("again"), second)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    shown = [reply.last.split("error id ")[1].rstrip(").") for reply in (first, second)]
    failures = [line for line in lines if "exception" in line]
    assert [line["request_id"] for line in failures] == shown
    assert shown[0] != shown[1]
    assert all("RuntimeError: the model broke" in line["exception"] for line in failures)
    assert all(shown[i] in failures[i]["message"] for i in range(2))
    outside = next(line for line in lines if line["message"] == "outside any request")
    assert "request_id" not in outside
    assert set(outside) == {"time", "level", "logger", "message"}
