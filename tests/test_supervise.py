"""The platform supervisor: transient failures retried with capped, jittered backoff;
fatal ones and bugs passed on."""

from __future__ import annotations

import logging
import random

import pytest

from adapters.common.failures import PlatformFatal
from bot.supervise import Retrying, supervise


class Flaky:
    """An adapter whose runs fail with the next queued error, then serve."""

    platform = "test"

    def __init__(self, errors: list[BaseException], built: list[Flaky]) -> None:
        self.errors = errors
        built.append(self)

    async def run(self) -> None:
        if self.errors:
            raise self.errors.pop(0)

    @staticmethod
    def is_transient(exc: BaseException) -> bool:
        return isinstance(exc, ConnectionError)


async def test_transient_failures_are_retried_with_capped_jittered_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors: list[BaseException] = [ConnectionError("refused")] * 6
    built: list[Flaky] = []
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    retrying = Retrying(base=1.0, cap=5.0, rng=random.Random(3))
    with caplog.at_level(logging.WARNING, logger="bot.supervise"):
        await supervise(lambda: Flaky(errors, built), retrying, sleep)
    assert len(built) == 7  # a fresh adapter for every attempt
    caps = [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert all(0 <= w <= cap for w, cap in zip(waits, caps, strict=True))
    assert len(set(waits)) == len(waits)  # jittered, not a fixed ladder
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 6 and lines[0].startswith("test: ConnectionError: refused; retrying in")
    assert lines[-1].endswith("(attempt 6)")


@pytest.mark.parametrize(
    "error", [PlatformFatal("test", "token rejected", "set a new one"), KeyError("a bug")]
)
async def test_fatal_failures_and_bugs_are_not_retried(error: Exception) -> None:
    built: list[Flaky] = []

    async def sleep(seconds: float) -> None:
        raise AssertionError("no retry expected")

    with pytest.raises(type(error)):
        await supervise(lambda: Flaky([error], built), Retrying(), sleep)
    assert len(built) == 1
