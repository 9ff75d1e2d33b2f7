"""The text backend for an OpenAI-compatible server (vLLM, SGLang, Ollama, llama.cpp's
llama-server, `transformers serve`), on the official `openai` SDK's `AsyncOpenAI`.

The server does the batching and the prefix caching; Muse keeps its queues, quotas,
memory and moderation. What the SDK already does is left to it: retrying a refused
request (429, 5xx, connection refused) with backoff that honours `Retry-After`
(`max_retries`), connect and read timeouts, parsing the SSE stream. What it cannot know
is done here: the first-token deadline, keeping the text of a reply cut short, and
turning each failure into words for the person who asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any

import openai
from openai import AsyncOpenAI

from core.runtime import metrics
from core.text.backend import EngineUnavailable, PromptInput, StreamInterrupted, TextStream
from core.text.budget_tokenizer import load_budget_tokenizer
from core.text.request import GenerationSettings
from core.text.settings import TextSettings

__all__ = ["OpenAIBackend"]

log = logging.getLogger(__name__)
READINESS_SECONDS = 3.0


class OpenAIBackend:
    """`TextBackend` over `/v1/chat/completions` with `stream=True`."""

    def __init__(self, settings: TextSettings) -> None:
        self.settings = settings
        self.model_name = settings.model
        self.tokenizer: Any = None
        self.device = settings.base_url  # what /metrics' model-loaded line names
        self.dtype = "remote"
        self.client = AsyncOpenAI(
            base_url=settings.base_url,
            # Local servers (vLLM without --api-key, Ollama) want none; the SDK wants one.
            api_key=settings.api_key.get_secret_value() or "none",
            timeout=openai.Timeout(
                settings.read_timeout_seconds, connect=settings.connect_timeout_seconds
            ),
            max_retries=settings.max_retries,
        )
        # LoRA personas are the server's models by these names (vLLM: --lora-modules NAME=PATH).
        self.adapters = tuple(a.name for a in settings.adapters)
        self._slots = asyncio.Semaphore(settings.max_in_flight)
        self._open = 0

    async def load(self, model: str | None = None) -> None:
        """Load the tokenizer that counts prompt budgets (no weights), and say if the
        server is not there yet: Muse still starts, and /readyz tells."""
        if model:
            self.model_name = model
        self.tokenizer = await asyncio.to_thread(
            load_budget_tokenizer, self.settings.tokenizer, self.model_name
        )
        status = await self.readiness()
        if status != "ok":
            log.warning("text: the model server at %s: %s", self.settings.base_url, status)
        else:
            log.info("text: model %s served at %s", self.model_name, self.settings.base_url)

    @property
    def running(self) -> int:
        return self._open

    def forget(self, cache_key: str) -> None:
        """Nothing to drop: the server's prefix cache matches on the text it is sent."""

    async def readiness(self) -> str:
        """ "ok" when the server answers /models and serves our model."""
        client = self.client.with_options(timeout=READINESS_SECONDS, max_retries=0)
        try:
            served = [m.id async for m in client.models.list()]
        except openai.APIStatusError as exc:
            return f"unreachable: HTTP {exc.status_code} from {self.settings.base_url}/models"
        except openai.APIError as exc:
            return f"unreachable: {exc.message} ({self.settings.base_url})"
        if served and self.model_name not in served:
            return f"model {self.model_name!r} not served there (it serves {', '.join(served)})"
        return "ok"

    async def close(self) -> None:
        await self.client.close()

    def generate(
        self,
        prompt: PromptInput,
        gen: GenerationSettings,
        cache_key: str | None = None,
        adapter: str | None = None,
    ) -> TextStream:
        metrics.tokens(prompt=len(prompt.ids))
        model = adapter or self.model_name
        out = TextStream(self._pieces(prompt, gen, model, lambda n: setattr(out, "tokens", n)))
        return out

    async def _pieces(
        self,
        prompt: PromptInput,
        gen: GenerationSettings,
        model: str,
        count: Callable[[int], None],
    ) -> AsyncGenerator[str, None]:
        async with self._slots:
            self._open += 1
            try:
                # aclosing: closing this stream closes the reply's at once (and its HTTP
                # stream with it), not whenever the garbage collector gets to it.
                async with contextlib.aclosing(self._reply(prompt, gen, model, count)) as reply:
                    async for piece in reply:
                        yield piece
            finally:
                self._open -= 1

    async def _reply(
        self,
        prompt: PromptInput,
        gen: GenerationSettings,
        model: str,
        count: Callable[[int], None],
    ) -> AsyncGenerator[str, None]:
        pieces, usage = 0, None
        finished = False
        stream = None
        # The deadline covers connecting, the SDK's retries and the first words (servers
        # send a role-only chunk first, so "first chunk" would prove nothing).
        deadline = asyncio.get_running_loop().time() + self.settings.first_token_seconds
        try:
            while True:
                try:
                    if pieces:
                        chunk = await anext(stream, None)
                    else:
                        async with asyncio.timeout_at(deadline):
                            if stream is None:
                                stream = await self._start(prompt, gen, model)
                            chunk = await anext(stream, None)
                except TimeoutError:
                    raise EngineUnavailable(
                        "The model server did not start answering within "
                        f"{self.settings.first_token_seconds:g} s; it may be overloaded. "
                        "Please try again in a little while."
                    ) from None
                except openai.APIError as exc:
                    if pieces:
                        raise StreamInterrupted(f"the model server's stream broke: {exc}") from exc
                    raise EngineUnavailable(
                        "The model server dropped the reply before it began; please try again."
                    ) from exc
                if chunk is None:
                    break
                if chunk.usage is not None:
                    usage = chunk.usage.completion_tokens
                for choice in chunk.choices:
                    finished = finished or choice.finish_reason is not None
                    if choice.delta is not None and choice.delta.content:
                        pieces += 1
                        count(usage if usage is not None else pieces)
                        yield choice.delta.content
        finally:
            # Servers stop generating when the client goes (vLLM, transformers serve).
            if stream is not None:
                await stream.close()
            count(usage if usage is not None else pieces)
            metrics.tokens(generated=usage if usage is not None else pieces)
        if not finished:
            if not pieces:
                raise EngineUnavailable(
                    "The model server ended the reply before it began; please try again."
                )
            raise StreamInterrupted("the model server ended the stream mid-reply")

    async def _start(self, prompt: PromptInput, gen: GenerationSettings, model: str) -> Any:
        """Open the stream; refusals (after the SDK's retries) become EngineUnavailable."""
        base = self.settings.base_url
        extra: dict[str, Any] = dict(self.settings.extra_body)
        try:
            return await self.client.chat.completions.create(
                model=model,
                messages=list(prompt.messages),  # type: ignore[arg-type]
                stream=True,
                stream_options={"include_usage": True},
                max_tokens=gen.max_new_tokens,
                temperature=gen.temperature,
                top_p=gen.top_p,
                **({"seed": gen.seed} if gen.seed is not None else {}),
                extra_body=extra or None,
            )
        except openai.RateLimitError as exc:
            raise EngineUnavailable(
                f"The model server is busy (too many requests){_retry_hint(exc)}."
            ) from exc
        except openai.APIStatusError as exc:
            if exc.status_code in (502, 503, 504):
                raise EngineUnavailable(
                    f"The model server is unavailable right now (HTTP {exc.status_code})"
                    f"{_retry_hint(exc)}."
                ) from exc
            # 400/404 and the like are the operator's to fix: logged, and an apology.
            raise RuntimeError(
                f"the model server at {base} refused the request for model "
                f"{model!r}: HTTP {exc.status_code}: {exc.message}"
            ) from exc
        except openai.APITimeoutError as exc:
            raise EngineUnavailable(
                "The model server did not answer in time; please try again in a little while."
            ) from exc
        except openai.APIConnectionError as exc:
            log.warning("text: cannot reach the model server at %s: %r", base, exc.__cause__)
            raise EngineUnavailable(
                "I can't reach my model server right now; please try again in a minute."
            ) from exc


def _retry_hint(exc: openai.APIStatusError) -> str:
    after = exc.response.headers.get("retry-after", "")
    if after.strip().isdigit():
        return f"; please try again in {int(after)} s"
    return "; please try again in a little while"
