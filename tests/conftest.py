from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# A developer's own tokens and config must never reach the tests (nor, through them, the
# real Discord or Slack).
os.environ.pop("DISCORD_TOKEN", None)
os.environ.pop("SLACK_BOT_TOKEN", None)
os.environ.pop("SLACK_APP_TOKEN", None)
os.environ.pop("SLACK_SIGNING_SECRET", None)
os.environ.pop("MUSE_CONFIG", None)

from bot.features import register_commands
from core.chat.service import Muse
from core.memory.store import Memory
from core.runtime import metrics
from core.runtime.device import DeviceArbiter
from core.text.backend import TextBackend
from core.text.engine import TextEngine
from core.text.settings import TextSettings
from core.text.tiny import build_tiny_text_model
from tests.helpers import stop_started_muses, tiny_text_settings

if TYPE_CHECKING:
    from tests.schedule_fakes import RecordingOutbound
    from tests.standins.discord_api import DiscordStandin
    from tests.standins.slack_api import SlackApiStandin

# CI runs the same examples every time (a red build names a real, reproducible case);
# HYPOTHESIS_PROFILE=explore draws fresh ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


class _Deprecations(logging.Handler):
    """transformers and diffusers announce deprecations through logging, not warnings."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "deprecat" in text.lower():
            self.seen.append(f"{record.name}: {text}")


@pytest.fixture(autouse=True)
def no_library_deprecations() -> Iterator[None]:
    """Fail a test whose calls into the model libraries use something deprecated."""
    handler = _Deprecations()
    loggers = [logging.getLogger(name) for name in ("transformers", "diffusers")]
    for lg in loggers:
        lg.addHandler(handler)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
    assert not handler.seen, "deprecated library API used:\n" + "\n".join(handler.seen)


@pytest.fixture(autouse=True, scope="session")
def private_user_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """What Muse caches between starts goes to a temporary folder (for the subprocesses too),
    never the developer's ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MUSE_CACHE_DIR", str(tmp_path_factory.mktemp("user-cache")))
        yield


@pytest.fixture
def fresh_metrics() -> Iterator[metrics.Metrics]:
    """An empty set of metrics for this test (what it counts is only its own doing)."""
    previous = metrics.use(metrics.Metrics())
    try:
        yield metrics.current()
    finally:
        metrics.use(previous)


@pytest.fixture(autouse=True)
def no_muse_left_running() -> Iterator[None]:
    yield
    stop_started_muses()


@pytest.fixture(scope="session")
def tiny_text_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    return build_tiny_text_model(root / "tiny-text-v1")


@pytest.fixture
def text_settings(tiny_text_dir: Path) -> TextSettings:
    return tiny_text_settings(tiny_text_dir)


@pytest.fixture
async def text_engine(text_settings: TextSettings) -> AsyncIterator[TextEngine]:
    arbiter = DeviceArbiter()
    engine = TextEngine(text_settings, arbiter)
    await engine.load()
    yield engine
    await arbiter.close()


@pytest.fixture(scope="session")
def openai_server(tiny_text_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`transformers serve` on the tiny model, once per session: its API root URL."""
    from tests.openai_server import serve_tiny

    with serve_tiny(tiny_text_dir, tmp_path_factory.mktemp("serve") / "serve.log") as url:
        yield url


def remote_text_settings(settings: TextSettings, base_url: str, **changes: Any) -> TextSettings:
    """The same [text] (same model, same generation settings), served at `base_url`."""
    return TextSettings.model_validate(
        {**settings.model_dump(), "backend": "openai", "base_url": base_url, **changes}
    )


@pytest.fixture
async def openai_backend(openai_server: str, text_settings: TextSettings) -> AsyncIterator[Any]:
    from core.text.remote import OpenAIBackend

    backend = OpenAIBackend(remote_text_settings(text_settings, openai_server))
    await backend.load()
    yield backend
    await backend.close()


# Parametrize a test's `text_backend` with these (indirect=True) to run it on both engines.
BACKENDS = ["local", pytest.param("openai", marks=pytest.mark.slow)]


@pytest.fixture
def text_backend(request: pytest.FixtureRequest) -> TextBackend:
    """The in-process engine, or (param "openai") the client of `transformers serve`."""
    kind = getattr(request, "param", "local")
    return request.getfixturevalue("text_engine" if kind == "local" else "openai_backend")


@pytest.fixture
async def memory(tmp_path: Path) -> AsyncIterator[Memory]:
    mem = await Memory.open(tmp_path / "muse.db")
    yield mem
    await mem.close()


@pytest.fixture
async def muse(text_backend: TextBackend, memory: Memory) -> Muse:
    core = Muse(
        memory=memory,
        text_engine=text_backend,
        arbiter=getattr(text_backend, "arbiter", None) or DeviceArbiter(),
        text_settings=text_backend.settings,  # type: ignore[attr-defined]
    )
    register_commands(core)
    return core


# -- shared by several modules; imported inside so a run without them stays light -----------


@pytest.fixture
async def standin() -> AsyncIterator[DiscordStandin]:
    """The Discord stand-in; the test fails if the stand-in itself broke."""
    from tests.standins.discord_api import DiscordStandin

    async with DiscordStandin() as server:
        yield server
        assert not server.internal_errors, server.internal_errors[0]


@pytest.fixture
async def slack() -> AsyncIterator[SlackApiStandin]:
    """The Slack Web API (and Socket Mode) stand-in."""
    from tests.standins.slack_api import SlackApiStandin

    async with SlackApiStandin() as server:
        yield server


@pytest.fixture
def outbound(muse: Muse) -> RecordingOutbound:
    """Records what the scheduler posts to the "test" platform."""
    from tests.schedule_fakes import RecordingOutbound

    out = RecordingOutbound()
    muse.outbounds["test"] = out
    return out
