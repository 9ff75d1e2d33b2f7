"""Chat generation with a Hugging Face causal LM: batched, cached, streamed, off the loop.

Requests queue as `Sequence`s. A runner task on the event loop alternates two kinds of
device jobs on the DeviceArbiter: *admit* (prefill newly arrived requests, reusing their
conversation's cached prefix, and merge them into the running batch) and *decode* (one
forward pass for every running request). So a new request joins at the next step
boundary instead of waiting for a long reply to finish, and each reply streams to its
own queue as tokens come out.

That fast path is checked against `model.generate` at load; if a transformers release
breaks it, the engine logs why and serves through plain `generate` instead
(core/text_fallback.py): one request at a time, slower, still answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

from core.errors import ModelUnavailable
from core.runtime import metrics
from core.runtime.device import DeviceArbiter, is_oom, pick_device, pick_dtype
from core.runtime.models import missing_folder, model_unavailable
from core.text import check as text_check
from core.text import cpu_matmul, kv, lora
from core.text.backend import PromptInput, TextStream
from core.text.batch import Batch
from core.text.fallback import generate_one
from core.text.prefix_cache import PrefixCache
from core.text.quantize import int4_problem, quantize
from core.text.request import GenerationSettings, Sequence
from core.text.sampling import sample
from core.text.settings import TextSettings

__all__ = ["GenerationSettings", "TextEngine", "generation_settings"]

log = logging.getLogger(__name__)
_END = object()


def generation_settings(s: TextSettings) -> GenerationSettings:
    return GenerationSettings(s.max_new_tokens, s.temperature, s.top_p)


class TextEngine:
    def __init__(self, settings: TextSettings, arbiter: DeviceArbiter) -> None:
        self.settings = settings
        self.arbiter = arbiter
        self.model: Any = None
        self.tokenizer: Any = None
        self.device = pick_device(settings.device, "[text] device")
        self.dtype = pick_dtype(self.device, settings.dtype)
        self.model_name = settings.model
        self.eos_ids: set[int] = set()
        self.max_batch = settings.max_batch_size
        self.prefix_cache = PrefixCache(settings.prefix_cache_mb * 2**20)
        self._pending: deque[Sequence] = deque()
        self._batch: Batch | None = None
        self._runner: asyncio.Task[None] | None = None
        self.forward_passes = 0  # prefill + decode calls, for tests and benchmarks
        self.fast_path = True  # batched decode; False: plain generate() one at a time
        self.adapters: tuple[str, ...] = ()  # LoRA personas loaded ([[text.adapters]])

    # -- loading --------------------------------------------------------------------------

    async def load(self, model: str | None = None) -> None:
        await asyncio.to_thread(self._load, model or self.settings.model)

    def _load(self, name: str) -> None:
        if (missing := missing_folder(name, "[text] model")) is not None:
            raise missing
        self.adapters = ()  # the fast-path check below runs on the base model alone
        mode = self.settings.quantization
        if mode == "int4" and (problem := int4_problem(self.device, self.dtype)) is not None:
            raise ModelUnavailable(problem)
        try:
            tokenizer = AutoTokenizer.from_pretrained(name)
            lm = AutoModelForCausalLM.from_pretrained(name, dtype=self.dtype)
        except (OSError, ValueError) as exc:  # hub unreachable, missing repo, bad folder
            raise model_unavailable(name, "[text] model", exc) from exc
        if not getattr(tokenizer, "chat_template", None):
            raise ModelUnavailable(
                f"Model '{name}' has no chat template; set [text] model to an instruct/chat model."
            )
        self.model = quantize(lm.to(self.device).eval(), mode)
        if self.device.type == "cpu" and mode == "none":  # quantized weights are not plain
            cpu_matmul.tune(self.model)
        self.tokenizer = tokenizer
        self.model_name = name
        self.prefix_cache.clear()  # caches from another model are meaningless
        self._batch = self._new_batch()
        eos = lm.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if tokenizer.eos_token_id is not None:
            self.eos_ids.add(tokenizer.eos_token_id)
        if not kv.supports(DynamicCache(config=lm.config)):
            log.warning("%s uses cache layers Muse cannot merge: no batching or prefix reuse", name)
            self.max_batch = 1
            self.prefix_cache.max_bytes = 0
        problem = self._check_fast_path()
        self.fast_path = problem is None
        # After the check: it compares the base model's greedy tokens with generate's.
        self.model = lora.attach(self.model, self.settings.adapters)
        self.adapters = tuple(a.name for a in self.settings.adapters)
        self._batch = self._new_batch()
        if problem is not None:
            log.warning(
                "text: Muse's batched decoding does not work with transformers %s (%s); "
                "serving through model.generate one request at a time instead: replies "
                "keep coming, slower. Install the versions in requirements/run.lock to "
                "get batching back.",
                transformers.__version__,
                problem,
            )
        log.info(
            "text model %s loaded on %s (%s, quantization %s%s)",
            name,
            self.device,
            self.dtype,
            mode,
            f", adapters {', '.join(self.adapters)}" if self.adapters else "",
        )

    def _new_batch(self) -> Batch:
        return Batch(self.model, self.device, lora=bool(self.adapters))

    def _check_fast_path(self) -> str | None:
        """Run the batched path on a few greedy tokens and compare with `generate`."""
        tok = self.tokenizer
        prompts = [
            tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True)
            for text, _ in text_check.CHECK_PROMPTS
        ]
        prompts = [list(p["input_ids"] if hasattr(p, "keys") else p) for p in prompts]
        eos, pad = sorted(self.eos_ids), tok.pad_token_id or 0
        tolerance = 1e-4 if self.dtype == torch.float32 else 5e-2
        try:
            with torch.inference_mode():
                want = [
                    text_check.reference_tokens(self.model, p, n, eos, pad)
                    for p, (_, n) in zip(prompts, text_check.CHECK_PROMPTS, strict=True)
                ]
                ours = text_check.run_check(
                    prompts, self._admit, self._decode, lambda: self.running
                )
        except Exception as exc:  # any failure of the fast path means: do not use it
            return f"{type(exc).__name__}: {exc}"
        finally:
            self._batch = self._new_batch()
            self.prefix_cache.clear()
            self.forward_passes = 0
        for got, (tokens, logits) in zip(ours, want, strict=True):
            if not text_check.same_greedy_tokens(got, tokens, logits, tolerance):
                return f"greedy tokens {got} where generate() gives {tokens}"
        return None

    # -- public API -----------------------------------------------------------------------

    async def stream(
        self,
        prompt_ids: list[int],
        gen: GenerationSettings,
        cache_key: str | None = None,
        adapter: str | None = None,
    ) -> AsyncIterator[str]:
        """Yield the reply's text in pieces as tokens are produced.

        `cache_key` (a conversation key) lets the next turn of that conversation reuse
        this turn's KV cache. `adapter` names a LoRA persona of `[[text.adapters]]` (None:
        the base model). Stopping iteration cancels the request at the next step.
        """
        # aclosing: stopping this iterator stops the request now, not at garbage collection.
        async with contextlib.aclosing(
            self._pieces(self._submit(prompt_ids, gen, cache_key, adapter))
        ) as it:
            async for piece in it:
                yield piece

    def generate(
        self,
        prompt: PromptInput,
        gen: GenerationSettings,
        cache_key: str | None = None,
        adapter: str | None = None,
    ) -> TextStream:
        """`stream` for the chat service (the TextBackend interface): the prompt's ids in,
        a TextStream out whose `tokens` counts the tokens sampled so far."""
        seq = self._submit(prompt.ids, gen, cache_key, adapter)

        async def counted() -> AsyncGenerator[str, None]:
            try:
                async with contextlib.aclosing(self._pieces(seq)) as pieces:
                    async for piece in pieces:
                        out.tokens = len(seq.generated)
                        yield piece
            finally:
                out.tokens = len(seq.generated)

        out = TextStream(counted())
        return out

    def _submit(
        self,
        prompt_ids: list[int],
        gen: GenerationSettings,
        cache_key: str | None,
        adapter: str | None = None,
    ) -> Sequence:
        if adapter is not None and adapter not in self.adapters:
            known = ", ".join(self.adapters) or "none are configured"
            raise ValueError(f"unknown adapter {adapter!r} ([[text.adapters]]: {known})")
        # A cache computed through one adapter is wrong for another: one entry each.
        seq = Sequence(list(prompt_ids), gen, adapter_cache_key(cache_key, adapter), adapter)
        metrics.tokens(prompt=len(seq.prompt_ids))
        if gen.temperature > 0:
            seq.generator = torch.Generator(device=self.device)
            if gen.seed is not None:
                seq.generator.manual_seed(gen.seed)
            else:
                seq.generator.seed()
        return seq

    async def _pieces(self, seq: Sequence) -> AsyncGenerator[str, None]:
        self._pending.append(seq)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(self._run(), name="muse-text")
        try:
            while True:
                item = await seq.out.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            seq.cancelled = True

    async def readiness(self) -> str:
        return "ok" if self.model is not None else "loading"

    async def close(self) -> None:
        """Nothing to let go of: the arbiter's owner closes the device thread."""

    def forget(self, cache_key: str) -> None:
        """Drop a conversation's cached prefixes (after /forget or a persona change)."""
        for adapter in (None, *self.adapters):
            self.prefix_cache.invalidate(adapter_cache_key(cache_key, adapter))

    @property
    def running(self) -> int:
        return len(self._batch) if self._batch is not None else 0

    # -- the runner (event loop side) ----------------------------------------------------

    async def _run(self) -> None:
        assert self._batch is not None, "load() first"
        if not self.fast_path:
            await self._run_plain()
            return
        self.max_batch = self.settings.max_batch_size  # lowered after an OOM until idle
        while self._pending or len(self._batch):
            room = self.max_batch - len(self._batch)
            arrivals = []
            while self._pending and len(arrivals) < room:
                seq = self._pending.popleft()
                if not seq.cancelled:
                    arrivals.append(seq)
            if arrivals:
                await self._job(arrivals, self._admit, arrivals)
            if len(self._batch):
                await self._job(list(self._batch.rows), self._decode)

    async def _job(self, affected: list[Sequence], fn: Any, *args: Any) -> None:
        assert self._batch is not None
        involved = list(dict.fromkeys([*affected, *self._batch.rows]))
        before = {seq: seq.snapshot() for seq in involved}
        try:
            events = await self.arbiter.run("text", fn, *args)
        except Exception as exc:
            self._batch = self._new_batch()  # its cache may be half-updated
            for seq in involved:
                seq.restore(before[seq])
            if is_oom(exc):
                self._replay_smaller(involved, exc)
                return
            log.warning("text generation step failed: %r", exc)
            for seq in involved:
                seq.out.put_nowait(exc)
            return
        metrics.tokens(generated=len(events))  # one event per token sampled
        for seq, piece, done in events:
            if piece:
                seq.out.put_nowait(piece)
            if done:
                seq.out.put_nowait(_END)

    async def _run_plain(self) -> None:
        """The safe path: each request through `model.generate`, in arrival order."""
        loop = asyncio.get_running_loop()
        eos, pad = sorted(self.eos_ids), self.tokenizer.pad_token_id or 0
        while self._pending:
            seq = self._pending.popleft()
            if seq.cancelled:
                continue
            extra = {"adapter_names": lora.row_names([seq.adapter])} if self.adapters else {}
            try:
                await self.arbiter.run(
                    "text", generate_one, self.model, seq, self._emit, loop, eos, pad, extra
                )
            except Exception as exc:
                log.warning("text generation failed: %r", exc)
                seq.out.put_nowait(exc)
                continue
            finally:
                metrics.tokens(generated=len(seq.generated))
            seq.out.put_nowait(_END)

    def _replay_smaller(self, involved: list[Sequence], exc: BaseException) -> None:
        """Out of memory: re-prefill each request (prompt + text so far) in batches of half
        the size; a request that already had its second chance gets the error."""
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        self.max_batch = max(1, len(involved) // 2)
        log.warning(
            "text: out of memory with %d request(s); retrying at most %d at a time",
            len(involved),
            self.max_batch,
        )
        for seq in reversed(involved):
            if seq.oom_retried or seq.cancelled:
                seq.out.put_nowait(exc)
            else:
                seq.oom_retried = True
                self._pending.appendleft(seq)

    # -- device jobs (device thread) -----------------------------------------------------

    @torch.inference_mode()
    def _admit(self, arrivals: list[Sequence]) -> list[tuple[Sequence, str, bool]]:
        """Prefill arrivals (cached prefix first), sample their first token, join the batch."""
        assert self._batch is not None
        events = []
        cold: list[Sequence] = []
        for seq in arrivals:
            cache, reuse = (None, 0)
            if seq.cache_key and self.prefix_cache.max_bytes:
                cache, reuse = self.prefix_cache.take(seq.cache_key, seq.context)
            if cache is None:
                cold.append(seq)
                continue
            seq.reused_tokens = reuse
            # Roomy before the forward: the new tokens land in a buffer with room to grow,
            # instead of a concatenated copy that the first decode step would copy again.
            kv.make_roomy(cache)
            new = seq.context[reuse:]
            positions = torch.arange(reuse, len(seq.context), device=self.device)
            ids = torch.tensor([new], device=self.device)
            logits = self._forward(ids, cache, positions[None], rows=[seq])
            mask = torch.ones((1, kv.length(cache)), dtype=torch.long, device=self.device)
            events += self._first_tokens([seq], logits, cache, mask)
        if cold:
            events += self._prefill_padded(cold)
        return events

    def _prefill_padded(self, seqs: list[Sequence]) -> list[tuple[Sequence, str, bool]]:
        contexts = [s.context for s in seqs]
        width = max(len(c) for c in contexts)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.tensor([[pad] * (width - len(c)) + c for c in contexts], device=self.device)
        mask = torch.tensor(
            [[0] * (width - len(c)) + [1] * len(c) for c in contexts],
            dtype=torch.long,
            device=self.device,
        )
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        cache = DynamicCache(config=self.model.config)
        logits = self._forward(ids, cache, positions, mask, rows=seqs)
        return self._first_tokens(seqs, logits, cache, mask)

    def _forward(
        self,
        ids: torch.Tensor,
        cache: DynamicCache,
        positions: torch.Tensor,
        mask: torch.Tensor | None = None,
        *,
        rows: list[Sequence],
    ) -> torch.Tensor:
        assert self._batch is not None
        self.forward_passes += 1
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{self._batch.cache_keyword: cache},
            **self._batch.adapter_kwargs(rows),
        )
        return out.logits[:, -1, :]

    def _first_tokens(
        self, seqs: list[Sequence], logits: torch.Tensor, cache: DynamicCache, mask: torch.Tensor
    ) -> list[tuple[Sequence, str, bool]]:
        assert self._batch is not None
        events = []
        for i, seq in enumerate(seqs):
            seq.generated.append(sample(seq, logits[i : i + 1]))
            events.append(self._emit(seq))
        self._batch.add(seqs, cache, mask)
        self._retire([s for s in seqs if s.done])
        return events

    @torch.inference_mode()
    def _decode(self) -> list[tuple[Sequence, str, bool]]:
        assert self._batch is not None
        self._retire([s for s in self._batch.rows if s.cancelled])
        if not len(self._batch):
            return []
        self.forward_passes += 1
        tokens = self._batch.step()
        events = []
        for seq, token in zip(list(self._batch.rows), tokens, strict=True):
            seq.generated.append(token)
            events.append(self._emit(seq))
        self._retire([s for s in self._batch.rows if s.done])
        return events

    def _retire(self, leaving: list[Sequence]) -> None:
        """Take finished rows out of the batch, keeping their caches for the next turn."""
        assert self._batch is not None
        for seq in leaving:
            if seq.cache_key and not seq.cancelled and self.prefix_cache.max_bytes:
                # The cache holds every token but the last sampled one (never fed back).
                covered = seq.prompt_ids + seq.generated[:-1]
                self.prefix_cache.put(seq.cache_key, covered, self._batch.row_cache(seq))
        self._batch.remove(leaving)

    def _emit(self, seq: Sequence) -> tuple[Sequence, str, bool]:
        """Decode the newest token into text, looking back only a few tokens.

        Decoding a window (prefix_offset:) rather than the whole reply keeps each step
        O(1); the window gives the tokenizer the context it needs for spaces and merges.
        """
        token = seq.generated[-1]
        if token in self.eos_ids or len(seq.generated) >= seq.gen.max_new_tokens:
            seq.done = True
        ids = seq.generated[:-1] if token in self.eos_ids else seq.generated
        decode = self.tokenizer.decode
        before = decode(ids[seq.prefix_offset : seq.read_offset], skip_special_tokens=True)
        now = decode(ids[seq.prefix_offset :], skip_special_tokens=True)
        # Hold back a half-decoded multi-byte character until its other bytes arrive.
        if len(now) <= len(before) or (now.endswith("\ufffd") and not seq.done):
            return seq, "", seq.done
        seq.prefix_offset, seq.read_offset = seq.read_offset, len(ids)
        return seq, now[len(before) :], seq.done


def adapter_cache_key(cache_key: str | None, adapter: str | None) -> str | None:
    """The prefix-cache key of a conversation as seen through `adapter`."""
    if cache_key is None or adapter is None:
        return cache_key
    return f"{cache_key}#adapter={adapter}"
