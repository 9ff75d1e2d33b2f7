"""Muse's Prometheus metrics: every metric object, in one registry of its own, and the small
functions the rest of Muse calls to move them (no prometheus_client type leaves this module).

Names follow Prometheus' conventions: a `muse_` prefix, snake_case, base units in the name
(`_seconds`), `_total` on counters. Where vLLM measures the same thing, the rest of the name is
vLLM's (`vllm:time_to_first_token_seconds` -> `muse_time_to_first_token_seconds`), so a vLLM
dashboard carries over by changing the prefix. The prefix is `muse_`, not `muse:` in the manner
of vLLM's `vllm:`: Prometheus reserves colons for recording rules, and exporters should not
use them.

The registry is a `CollectorRegistry` of Muse's own, never prometheus_client's global one, so
several Muses (or tests) in one process do not collide; `use(Metrics())` swaps in a fresh set.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

__all__ = [
    "CONTENT_TYPE",
    "KINDS",
    "OUTCOMES",
    "SCHEDULE_OUTCOMES",
    "Metrics",
    "current",
    "first_token",
    "image_call",
    "model_loaded",
    "platform_api_error",
    "queue",
    "queue_time",
    "render",
    "request_finished",
    "schedule_post",
    "tokens",
    "use",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Every counter would also get a `..._created` series (its creation time); nothing reads
# them and they double the output. (A process-wide switch: Muse owns its process.)
disable_created_metrics()

# Request kinds: a chat message (text), /imagine and its buttons (image), other commands.
KINDS = ("text", "image", "command")
# What became of a request: answered, or why not.
OUTCOMES = (
    "answered",
    "busy",  # the queue was full
    "quota",  # over a per-user rate or daily budget
    "moderation",  # a moderation rule refused the prompt or the reply
    "denied",  # not allowed here (admins only, blocked, channel not allowed)
    "rejected",  # any other refusal with a message: bad options, shutting down, ...
    "cancelled",  # /cancel, or shutdown
    "error",  # a fault on Muse's side (the user got an error id)
)
SCHEDULE_OUTCOMES = ("posted", "failed", "interrupted", "missed", "duplicate")

# vLLM's buckets for the same histograms, trimmed at the low end: a chat reply through
# Discord or Slack is never sub-millisecond.
TTFT_BUCKETS = (0.02, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0)
LATENCY_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0)
IMAGE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0, 300.0)


class Metrics:
    """One set of Muse's metrics, in its own registry."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter(
            "muse_requests",
            "Requests handled, by platform, kind (text, image, command) and outcome "
            "(answered, busy, quota, moderation, denied, rejected, cancelled, error).",
            ["platform", "kind", "outcome"],
            registry=r,
        )
        self.waiting = Gauge(
            "muse_num_requests_waiting",
            "Requests admitted to the queue that have not started yet.",
            ["kind"],
            registry=r,
        )
        self.running = Gauge(
            "muse_num_requests_running",
            "Requests generating now.",
            ["kind"],
            registry=r,
        )
        self.queue_time = Histogram(
            "muse_request_queue_time_seconds",
            "Time from admission to the start of generation (the wait in line).",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "muse_time_to_first_token_seconds",
            "Time from a chat request's admission to its first generated text.",
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.e2e = Histogram(
            "muse_e2e_request_latency_seconds",
            "Time from receiving an answered request to its reply being complete.",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.prompt_tokens = Counter(
            "muse_prompt_tokens",
            "Prompt tokens given to the text model.",
            registry=r,
        )
        self.generation_tokens = Counter(
            "muse_generation_tokens",
            "Tokens the text model generated.",
            registry=r,
        )
        self.image_seconds = Histogram(
            "muse_image_generation_seconds",
            "Duration of each image pipeline call (one batch of images).",
            buckets=IMAGE_BUCKETS,
            registry=r,
        )
        self.images = Counter(
            "muse_images_generated",
            "Images the image model made (those blocked by the safety filter included).",
            registry=r,
        )
        self.platform_errors = Counter(
            "muse_platform_api_errors",
            "Platform API calls that failed, by platform and code: the HTTP status "
            "(429 = rate limited), Slack's error name for its ok=false answers, or network.",
            ["platform", "code"],
            registry=r,
        )
        self.schedule_posts = Counter(
            "muse_schedule_posts",
            "Scheduled post slots, by outcome (posted, failed, interrupted, missed, duplicate).",
            ["outcome"],
            registry=r,
        )
        self.model_info = Gauge(
            "muse_model_info",
            "The loaded models (value 1), by kind (text, image), model, device and dtype.",
            ["kind", "model", "device", "dtype"],
            registry=r,
        )
        self.model_load_seconds = Gauge(
            "muse_model_load_seconds",
            "How long loading each model took at start-up.",
            ["kind"],
            registry=r,
        )
        # Series that exist from the start (at 0), so rate() and absent() work at once.
        for kind in ("text", "image"):
            self.waiting.labels(kind)
            self.running.labels(kind)
        for outcome in SCHEDULE_OUTCOMES:
            self.schedule_posts.labels(outcome)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


_current = Metrics()


def current() -> Metrics:
    return _current


def use(metrics: Metrics) -> Metrics:
    """Make `metrics` the set Muse records into; returns the previous one."""
    global _current
    previous, _current = _current, metrics
    return previous


def render() -> bytes:
    return _current.render()


# -- what the core calls -----------------------------------------------------------------------


def request_finished(platform: str, kind: str, outcome: str, seconds: float | None = None) -> None:
    """One request is done; `seconds` (its end-to-end latency) is recorded when answered."""
    _current.requests.labels(platform, kind, outcome).inc()
    if outcome == "answered" and seconds is not None:
        _current.e2e.labels(kind).observe(seconds)


def queue(kind: str, waiting: int, running: int) -> None:
    _current.waiting.labels(kind).set(waiting)
    _current.running.labels(kind).set(running)


def queue_time(kind: str, seconds: float) -> None:
    _current.queue_time.labels(kind).observe(seconds)


def first_token(seconds: float) -> None:
    _current.ttft.observe(seconds)


def tokens(*, prompt: int = 0, generated: int = 0) -> None:
    if prompt:
        _current.prompt_tokens.inc(prompt)
    if generated:
        _current.generation_tokens.inc(generated)


def image_call(seconds: float, images: int) -> None:
    _current.image_seconds.observe(seconds)
    _current.images.inc(images)


def platform_api_error(platform: str, code: str | int) -> None:
    _current.platform_errors.labels(platform, str(code)).inc()


def schedule_post(outcome: str) -> None:
    _current.schedule_posts.labels(outcome).inc()


def model_loaded(kind: str, model: str, device: str, dtype: str, seconds: float) -> None:
    _current.model_info.labels(kind, model, device, dtype).set(1)
    _current.model_load_seconds.labels(kind).set(seconds)
