"""/metrics after real traffic: every request counted once under its outcome, tokens and
images by the amounts made, platform API errors as the platform answered them. Scraped over
HTTP from the endpoint Muse serves, and read with prometheus_client's own parser."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError

from adapters.slack.adapter import build_client
from adapters.slack.settings import SlackSettings
from bot.features import register_commands
from bot.observe import Health, serving
from bot.settings import MetricsSettings
from core.chat.reply import Sent, Target
from core.chat.service import Muse
from core.fair_use.moderation import Moderator
from core.fair_use.settings import LimitSettings, ModerationRule
from core.image.engine import ImageEngine
from core.memory.store import Memory
from core.runtime import metrics
from core.schedule.cron import UTC
from core.schedule.model import Schedule
from core.schedule.scheduler import Scheduler
from core.schedule.settings import SchedulerSettings
from core.schedule.store import ScheduleStore
from core.text.engine import TextEngine
from core.text.settings import TextSettings
from tests.conftest_image import image_engine, image_settings, tiny_image_dir  # noqa: F401
from tests.helpers import RecordingReply, metric, msg, platform_muse, scrape
from tests.schedule_fakes import RecordingOutbound
from tests.standins.slack_api import APP_TOKEN, BOT_TOKEN, SlackApiStandin

REQUESTS = "muse_requests_total"


@contextlib.asynccontextmanager
async def endpoint(health: Health | None = None) -> AsyncIterator[str]:
    """Muse's HTTP endpoint on a free port of 127.0.0.1; yields its base URL."""
    async with serving(MetricsSettings(listen="127.0.0.1:0"), health or Health()) as url:
        assert url is not None
        yield url


@contextlib.contextmanager
def exact_token_counts(engine: TextEngine) -> Iterator[list[int]]:
    """Replies run to max_new_tokens (no end-of-text token), so each generates exactly that
    many; yields the prompt lengths the engine was given, as they come."""
    prompts: list[int] = []
    generate, eos = engine.generate, engine.eos_ids

    def recording(prompt: Any, *args: Any, **kwargs: Any) -> Any:
        prompts.append(len(prompt.ids))
        return generate(prompt, *args, **kwargs)

    engine.eos_ids = set()
    engine.generate = recording  # type: ignore[method-assign]
    try:
        yield prompts
    finally:
        engine.generate, engine.eos_ids = generate, eos  # type: ignore[method-assign]


async def test_answered_messages_are_counted_with_their_tokens_and_latencies(
    muse: Muse, fresh_metrics: metrics.Metrics
) -> None:
    reply = RecordingReply()
    with exact_token_counts(muse.text_engine) as prompts:
        async with endpoint() as url:
            await muse.handle_message(msg("hello"), reply)
            await muse.handle_message(msg("and again", channel="c2"), reply)
            samples = await scrape(url)
    assert len(reply.sent) == 2 and "went wrong" not in " ".join(reply.sent)
    answered = {"platform": "test", "kind": "text", "outcome": "answered"}
    assert metric(samples, REQUESTS, **answered) == 2
    assert metric(samples, "muse_generation_tokens_total") == 2 * muse.text_settings.max_new_tokens
    assert len(prompts) == 2
    assert metric(samples, "muse_prompt_tokens_total") == sum(prompts)
    assert metric(samples, "muse_time_to_first_token_seconds_count") == 2
    assert metric(samples, "muse_e2e_request_latency_seconds_count", kind="text") == 2
    assert metric(samples, "muse_request_queue_time_seconds_count", kind="text") == 2
    # Both done: nothing waits or runs any more.
    assert metric(samples, "muse_num_requests_waiting", kind="text") == 0
    assert metric(samples, "muse_num_requests_running", kind="text") == 0


@dataclass
class HeldReply(RecordingReply):
    """Holds its stream (and so its place in the queue) until `release` is set."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    holding: asyncio.Event = field(default_factory=asyncio.Event)

    async def stream(self, pieces: AsyncIterator[str]) -> Sent:
        self.holding.set()
        await self.release.wait()
        return await super().stream(pieces)


@pytest.fixture
def strict_muse(memory: Memory, text_engine: TextEngine, text_settings: TextSettings) -> Muse:
    """One place in the queue, one request a minute per person, a refusing moderation rule."""
    core = Muse(
        memory=memory,
        text_engine=text_engine,
        arbiter=text_engine.arbiter,
        text_settings=text_settings,
        limits=LimitSettings(queue_depth=1, requests_per_minute=1, notify_wait_seconds=3600),
        moderator=Moderator([ModerationRule(id="ads", words=["casino"], message="No ads.")]),
    )
    register_commands(core)
    return core


async def test_each_refusal_and_failure_is_counted_under_its_outcome(
    strict_muse: Muse, fresh_metrics: metrics.Metrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    muse = strict_muse
    async with endpoint() as url:
        # "a" holds the only place in the queue while "b" asks: busy.
        held = HeldReply()
        first = asyncio.create_task(muse.handle_message(msg("hello", author="a"), held))
        await asyncio.wait_for(held.holding.wait(), 30)
        while_held = await scrape(url)
        busy = RecordingReply()
        await muse.handle_message(msg("me too", author="b"), busy)
        held.release.set()
        await first
        # "c": the second message within the minute is over the limit.
        await muse.handle_message(msg("one", author="c", channel="c3"), RecordingReply())
        await muse.handle_message(msg("two", author="c", channel="c3"), RecordingReply())
        # "d": a moderation rule refuses the prompt.
        await muse.handle_message(msg("visit my casino", author="d"), RecordingReply())
        # "e": the model fails.
        broken = RecordingReply()

        def fail(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("the model broke")

        with monkeypatch.context() as patch:
            patch.setattr(muse.text_engine, "generate", fail)
            await muse.handle_message(msg("hi", author="e"), broken)
        # Commands: answered, unknown (rejected), for admins only (denied).
        await muse.run_command("stats", msg("", author="f"), RecordingReply())
        await muse.run_command("nope", msg("", author="f"), RecordingReply())
        await muse.run_command("persona", msg("set Be terse.", author="f"), RecordingReply())
        samples = await scrape(url)

    # "a" was admitted and has no token yet: it counts as waiting, not yet running.
    assert metric(while_held, "muse_num_requests_waiting", kind="text") == 1
    assert metric(while_held, "muse_num_requests_running", kind="text") == 0
    assert "busy" in busy.last and "error id" in broken.last

    def requests(kind: str, outcome: str) -> float:
        return metric(samples, REQUESTS, platform="test", kind=kind, outcome=outcome)

    assert requests("text", "answered") == 2  # "a", and "c"'s first
    for outcome in ("busy", "quota", "moderation", "error"):
        assert requests("text", outcome) == 1, outcome
    assert requests("command", "answered") == 1
    assert requests("command", "rejected") == 1
    assert requests("command", "denied") == 1
    total = sum(v for (name, _), v in samples.items() if name == REQUESTS)
    assert total == 9  # nothing counted twice, nothing left out
    assert metric(samples, "muse_e2e_request_latency_seconds_count", kind="text") == 2


async def test_imagine_counts_images_and_pipeline_time(
    memory: Memory,
    text_engine: TextEngine,
    text_settings: TextSettings,
    image_engine: ImageEngine,  # noqa: F811
    fresh_metrics: metrics.Metrics,
) -> None:
    muse = platform_muse(memory, text_engine, text_settings, image_engine)
    calls_before = image_engine.pipeline_calls
    reply = RecordingReply()
    async with endpoint() as url:
        await muse.run_command("imagine", msg("a lighthouse --count 2 --seed 7"), reply)
        samples = await scrape(url)
    assert len(reply.uploads) == 1 and len(reply.uploads[0][0]) == 2
    answered = {"platform": "test", "kind": "image", "outcome": "answered"}
    assert metric(samples, REQUESTS, **answered) == 1
    assert metric(samples, "muse_images_generated_total") == 2
    calls = image_engine.pipeline_calls - calls_before
    assert calls >= 1
    assert metric(samples, "muse_image_generation_seconds_count") == calls
    assert metric(samples, "muse_e2e_request_latency_seconds_count", kind="image") == 1
    assert metric(samples, "muse_num_requests_running", kind="image") == 0


async def test_scheduled_posts_are_counted_by_outcome(
    muse: Muse, outbound: RecordingOutbound, fresh_metrics: metrics.Metrics
) -> None:
    store = ScheduleStore(muse.memory.connection)
    slot = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    created = (slot - timedelta(days=3)).timestamp()

    def daily(channel: str) -> Schedule:
        return Schedule(
            id=None,
            target=Target("test", channel),
            cron="0 9 * * *",
            timezone="Europe/Paris",
            kind="text",
            prompt="A short poem",
            created_at=created,
            active_since=created,
        )

    good = await store.add(daily("c1"))
    nowhere = await store.add(daily("c9"))  # a channel Muse cannot post in: fails for good
    scheduler = Scheduler(muse, SchedulerSettings(retries=0))
    async with endpoint() as url:
        assert (await scheduler.fire(good, slot)).status == "posted"
        assert (await scheduler.fire(good, slot)).status == "duplicate"
        assert (await scheduler.fire(nowhere, slot)).status == "failed"
        samples = await scrape(url)
    posts = "muse_schedule_posts_total"
    assert metric(samples, posts, outcome="posted") == 1
    assert metric(samples, posts, outcome="duplicate") == 1
    assert metric(samples, posts, outcome="failed") == 1
    assert metric(samples, posts, outcome="missed") == 0  # present from the start, at 0
    assert (posts, frozenset({("outcome", "missed")})) in samples


async def test_slack_rate_limits_and_refusals_are_counted(fresh_metrics: metrics.Metrics) -> None:
    async with SlackApiStandin() as slack:
        settings = SlackSettings(bot_token=BOT_TOKEN, app_token=APP_TOKEN, api_url=slack.api_url)
        client = build_client(settings)
        slack.ratelimit("chat.postMessage", times=1, retry_after=0)
        slack.fail("chat.update", "message_not_found")
        async with endpoint() as url:
            posted = await client.chat_postMessage(channel="C1", text="hi")  # after one 429
            with pytest.raises(SlackApiError):
                await client.chat_update(channel="C1", ts=posted["ts"], text="edit")
            samples = await scrape(url)
    assert [c.status for c in slack.calls("chat.postMessage")] == [429, 200]
    errors = "muse_platform_api_errors_total"
    assert metric(samples, errors, platform="slack", code="429") == 1
    assert metric(samples, errors, platform="slack", code="message_not_found") == 1
    assert sum(v for (name, _), v in samples.items() if name == errors) == 2


def test_the_registry_is_muses_own(fresh_metrics: metrics.Metrics) -> None:
    """Nothing lands in prometheus_client's global registry (no clashes between Muses)."""
    from prometheus_client import REGISTRY

    metrics.request_finished("test", "text", "answered", 0.5)
    assert REGISTRY.get_sample_value("muse_requests_total") is None
    text = metrics.render().decode()
    assert 'muse_requests_total{kind="text",outcome="answered",platform="test"} 1.0' in text
    assert "_created" not in text
