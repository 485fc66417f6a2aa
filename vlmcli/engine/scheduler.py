"""Continuous batching: a fixed number of decode slots that newcomers fill as rows finish.

A static batch (`engine.generate`) decodes until its longest answer ends: a row that
finished early keeps decoding pad tokens, and no new request starts until the whole batch
is done. The scheduler instead keeps up to `slots` rows in flight:

1. admit: while slots are free, take the next requests from the stream, prepare each alone
   (a request that cannot be prepared, or whose input went bad since it was checked, is
   reported as a failed `Completion`, the others go on), encode their images together and
   prefill them as one left-padded batch of newcomers, then join them to the running batch;
2. choose every row's next token (greedy, or sampled with the request's own generator, so
   a seed reproduces a request whatever its company), exactly as the static loop does;
3. evict the rows that finished (EOS, stop string, grammar, `max_tokens`) from the cache,
   mask and positions (`kv_ops.keep_rows`), and yield their results;
4. one decode step for the rows left, then back to 1.

Each row's tokens equal what it gets alone (`model.generate` at batch 1): its keys, values
and positions never change, padding columns get zero attention weight, and a newcomer's
prefill is the same computation as a static batch's (tests/test_engine_continuous.py).
Only families whose caches are plain keys/values run here (`batching_mode`).

What each request is charged (`events.Timings`): its share of its admission's vision
encoding and prefill, and of each decode step it took part in, so the timings of all the
answers add up to the model's work once. Its `Completion.latency_s` is the wall time from
the start of its admission (preparing the group it was prefilled with) to its answer:
rows admitted together share that start, whichever of them was prepared first. Time spent
outside the scheduler (the caller handling what was yielded, reading the request stream)
is in neither.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vlmcli.engine.adapters.base import Adapter, PreparedRequest
from vlmcli.engine.batch import collate
from vlmcli.engine.cache import FeatureCache
from vlmcli.engine.config import GenerationConfig
from vlmcli.engine.detok import TextStream
from vlmcli.engine.events import FinishReason, GenerationResult, ResolutionFit, Timings, TokenEvent
from vlmcli.engine.fit import FittedBatch, prepare_batch
from vlmcli.engine.generate import TokenIds, check_context, forward_logits
from vlmcli.engine.kv_ops import RunningBatch, join, keep_rows
from vlmcli.engine.kvcache import cache_keyword, growing_cache
from vlmcli.engine.request import Request
from vlmcli.engine.results import judge_result, make_result, shares, vision_weight
from vlmcli.engine.sampling import apply_repetition_penalty, choose_next, make_generators
from vlmcli.engine.vision import encode_batch
from vlmcli.errors import InputError

if TYPE_CHECKING:
    import torch

    from vlmcli.structured.guard import Guard


_Taken = tuple[int, "Request | InputError", "FittedBatch | Exception", float]
"""A request read from the stream: its index, itself (or why it could not be taken), its
prepared form (or why it has none), and the seconds preparing it took."""


@dataclass(frozen=True)
class Completion:
    """One request of the stream, done: its result, or the error that stopped it alone."""

    index: int
    """Position of the request in the stream given to `ContinuousScheduler.run`."""
    result: GenerationResult | None = None
    error: Exception | None = None
    latency_s: float = 0.0
    """Wall seconds from the start of the admission that prefilled the request (preparing
    its group) to its answer: the same start for every row of the group (module docstring)."""


@dataclass
class SchedulerStats:
    """What the decode loop did, for benchmarks and `--debug`."""

    decode_steps: int = 0
    """Decoder passes of one token per row."""
    row_steps: int = 0
    """Rows in those passes, summed (every one a live row: finished rows are evicted)."""
    joins: int = 0
    """Prefills of newcomers joined to a running batch."""
    largest_batch: int = 0


@dataclass
class _Row:
    index: int
    request: Request
    prepared: PreparedRequest
    adapter: Adapter
    fit: ResolutionFit | None
    stream: TextStream
    prompt: list[int]
    guard: "Guard | None" = None
    generator: "torch.Generator | None" = None
    tokens: list[int] = field(default_factory=list)
    finish: FinishReason | None = None
    hits: int = 0
    timings: Timings = field(default_factory=Timings)
    """Its own, accumulated as it goes (module docstring)."""
    started: float = 0.0
    """When its admission began (`Completion.latency_s` counts from it)."""
    away: float = 0.0
    """`ContinuousScheduler._away` then: time outside the scheduler is not its latency."""


class ContinuousScheduler:
    """Runs a stream of requests through `slots` decode slots (module docstring)."""

    def __init__(
        self,
        *,
        adapter: Adapter,
        gen: GenerationConfig,
        cache: FeatureCache,
        token_ids: TokenIds,
        tokenizer: Any,
        slots: int,
        truncate: bool = False,
        prefill_tokens: int | None = None,
        step: Any = None,
    ) -> None:
        """`prefill_tokens` caps the prompt tokens of one admission (at least one request is
        always admitted): it bounds the vision encoder's and the prefill's memory. `step`
        runs the decode steps in place of the adapter's decoder (the fused int8 step)."""
        self.adapter = adapter
        self.gen = gen
        self.cache = cache
        self.token_ids = token_ids
        self.tokenizer = tokenizer
        self.slots = max(1, slots)
        self.truncate = truncate
        self.prefill_tokens = prefill_tokens
        self.step = step
        self.stats = SchedulerStats()
        self._kv_key = cache_keyword(adapter.decoder)
        """The keyword the decoder takes its KV cache by."""
        self._held: _Taken | None = None
        """Read from the stream but left for the next admission (over `prefill_tokens`)."""
        self._away = 0.0
        """Seconds spent outside the scheduler so far: in the caller between yields, and
        reading the request stream (not any row's latency)."""

    def run(self, requests: Iterable[Request], *, tokens: bool = False) -> Iterator[Completion | TokenEvent]:
        """Yield one `Completion` per request of `requests`, in the order they finish. The
        stream is read only as slots free up. Errors of the batch as a whole (out of memory)
        are raised; the caller knows which requests it handed out and which completed.
        `tokens`: also yield each row's text as it arrives (`TokenEvent`, index = the
        request's position in the stream), before its `Completion`, for streaming renderers."""
        for event in self._run(requests, tokens=tokens):
            left = time.perf_counter()
            yield event
            self._away += time.perf_counter() - left

    def _run(self, requests: Iterable[Request], *, tokens: bool) -> Iterator[Completion | TokenEvent]:
        import torch

        pending = _numbered(requests)
        rows: list[_Row] = []
        running: RunningBatch | None = None
        logits: torch.Tensor | None = None  # (B, V)
        with torch.inference_mode():
            while True:
                if len(rows) < self.slots:
                    admitted, failed = self._admit(pending, room=self.slots - len(rows))
                    yield from failed
                    for group in _by_adapter(admitted):
                        newcomers, first = self._prefill(group)  # first: (N, V)
                        running = newcomers if running is None else join(running, newcomers)
                        logits = first if logits is None else torch.cat([logits, first], dim=0)  # (B, V)
                        rows += group
                        self.stats.joins += 1
                if not rows:  # the admission found nothing but failures: the stream is done
                    return
                assert running is not None and logits is not None
                self.stats.largest_batch = max(self.stats.largest_batch, len(rows))
                start = time.perf_counter()
                chosen = self._choose(logits, rows)  # (B,)
                _charge(rows, time.perf_counter() - start)
                done: list[_Row] = []
                for row, token in zip(rows, chosen.tolist()):
                    start = time.perf_counter()
                    finished, text = self._advance(row, token)
                    row.timings.decode_s += time.perf_counter() - start  # its own detokenizing and grammar
                    if tokens and text:
                        yield TokenEvent(index=row.index, token_id=token, text=text)
                    if finished:
                        done.append(row)
                for row in done:
                    yield from self._complete(row, tokens=tokens)
                start = time.perf_counter()  # after the yields: the caller's time is no row's
                if done:
                    keep = [i for i, row in enumerate(rows) if row.finish is None]
                    rows = [rows[i] for i in keep]
                    if not rows:
                        running, logits = None, None
                        continue
                    running = keep_rows(running, keep)
                    chosen = chosen[keep]  # (B',)
                running = self._step_inputs(running)
                logits = forward_logits(  # (B, V)
                    self.step or self.adapter.decoder, self.adapter,
                    embeds=self.adapter.embed(chosen[:, None]),  # (B, 1, D)
                    mask=running.mask, positions=running.positions, kv={self._kv_key: running.cache},
                    decoder_kwargs=self.adapter.decode_kwargs(chosen[:, None]),
                )
                _charge(rows, time.perf_counter() - start)  # the step, shared by the rows in it
                self.stats.decode_steps += 1
                self.stats.row_steps += len(rows)

    # -- admission -----------------------------------------------------------
    def _admit(self, pending: Iterator[tuple[int, "Request | InputError"]], *, room: int) -> tuple[list[_Row], list[Completion]]:
        """Up to `room` prepared newcomers (and the requests that failed to prepare)."""
        rows: list[_Row] = []
        failed: list[Completion] = []
        budget = self.prefill_tokens
        # a request held over from the last admission was prepared then: counted as if now
        started = time.perf_counter() - (self._held[3] if self._held is not None else 0.0)
        away = self._away
        while len(rows) < room:
            item = self._next_prepared(pending)
            if item is None:
                break
            index, request, fitted, _ = item
            if isinstance(fitted, Exception):
                failed.append(Completion(index=index, error=fitted))
                continue
            length = int(fitted.requests[0].input_ids.shape[0])
            if rows and budget is not None and sum(len(r.prompt) for r in rows) + length > budget:
                self._held = item  # first of the next admission
                break
            rows.append(self._row(index, request, fitted, started=started))  # type: ignore[arg-type]
        for row in rows:
            row.away = away
        return rows, failed

    def _next_prepared(self, pending: Iterator[tuple[int, "Request | InputError"]]) -> _Taken | None:
        """The next request of the stream with its `FittedBatch` (or the exception preparing it
        raised, or taking it from the stream raised); None when the stream is done."""
        if self._held is not None:
            item, self._held = self._held, None
            return item
        start = time.perf_counter()
        found = next(pending, None)
        self._away += time.perf_counter() - start  # the caller's reading (decoding the images)
        if found is None:
            return None
        index, request = found
        if isinstance(request, InputError):  # its input went bad since it was checked
            return index, request, request, 0.0
        start = time.perf_counter()
        fitted: FittedBatch | Exception
        try:
            fitted = prepare_batch(self.adapter, [request], truncate=self.truncate, answer_tokens=self.gen.max_tokens)
            check_context(int(fitted.requests[0].input_ids.shape[0]), self.adapter.model.config)
        except Exception as exc:  # noqa: BLE001 - a request that cannot be prepared fails alone
            fitted = exc
        return index, request, fitted, time.perf_counter() - start

    def _row(self, index: int, request: Request, fitted: FittedBatch, *, started: float) -> _Row:
        prepared = fitted.requests[0]
        row = _Row(
            index=index,
            request=request,
            prepared=prepared,
            adapter=fitted.adapter,
            fit=fitted.fit,
            stream=TextStream(self.tokenizer, self.gen.stop),
            prompt=prepared.input_ids.tolist(),
            started=started,
        )
        if not self.gen.greedy:
            row.generator = make_generators(1, self.gen.seed)[0]
        return row

    def _prefill(self, rows: list[_Row]) -> tuple[RunningBatch, "torch.Tensor"]:
        """Encode and prefill newcomers (one fitted adapter) as one left-padded batch."""
        adapter = rows[0].adapter
        device = self.adapter.model.device
        start = time.perf_counter()
        prepared = [row.prepared for row in rows]
        vision = encode_batch(adapter, prepared, self.cache)
        vision_s = time.perf_counter() - start
        batch = collate(prepared, pad_id=self.token_ids.pad)
        input_ids = batch.input_ids.to(device)  # (N, L)
        mask = batch.attention_mask.to(device)  # (N, L)
        extras = {k: v.to(device) for k, v in batch.token_extras.items()}  # each (N, L)
        merged = adapter.merge(input_ids, adapter.embed(input_ids), vision.features)  # embeds (N, L, D)
        positions = adapter.prefill_positions(input_ids, mask, extras=extras, requests=prepared)  # (..., N, L)
        kv_cache = growing_cache(self.adapter.model.config.get_text_config(decoder=True), reserve=self.gen.max_tokens)
        logits = forward_logits(  # (N, V)
            self.adapter.decoder, adapter, embeds=merged.embeds, mask=mask, positions=positions,
            kv={self._kv_key: kv_cache}, decoder_kwargs=merged.decoder_kwargs,
        )
        prefill_s = time.perf_counter() - start - vision_s
        vision_parts = shares(vision_s, [vision_weight(r.prepared, h) for r, h in zip(rows, vision.hits)])
        prefill_parts = shares(prefill_s, [float(len(r.prompt)) for r in rows])
        for row, hits, vision_part, prefill_part in zip(rows, vision.hits, vision_parts, prefill_parts):
            row.hits = hits
            row.timings = Timings(vision_s=vision_part, prefill_s=prefill_part)
            row.guard = self._guard(row, vocab_size=logits.shape[-1])
        return RunningBatch(cache=kv_cache, mask=mask, positions=positions[..., -1:]), logits

    def _guard(self, row: _Row, *, vocab_size: int) -> "Guard | None":
        if row.request.constraint is None:
            return None
        from vlmcli.structured.guard import Guard

        return Guard([row.request.constraint], tokenizer=self.tokenizer, vocab_size=vocab_size, eos=self.token_ids.eos)

    # -- decoding ------------------------------------------------------------
    def _choose(self, logits: "torch.Tensor", rows: list[_Row]) -> "torch.Tensor":
        """Every row's next token (B,) from the (B, V) float32 logits, as the static loop chooses it."""
        import torch

        penalty = self.gen.penalty
        if penalty != 1.0 or any(row.guard is not None for row in rows):
            logits = logits.clone()
            for i, row in enumerate(rows):
                if penalty != 1.0:
                    seen = torch.tensor([row.prompt + row.tokens], device=logits.device)  # (1, S)
                    logits[i : i + 1] = apply_repetition_penalty(
                        logits[i : i + 1], seen, torch.ones_like(seen, dtype=torch.bool), penalty
                    )
                if row.guard is not None:
                    own = logits[i : i + 1].clone()  # (1, V)
                    row.guard.mask(own)
                    logits[i] = own[0]
        generators = None if self.gen.greedy else [row.generator for row in rows]
        return choose_next(logits, self.gen, generators)  # type: ignore[arg-type]

    def _advance(self, row: _Row, token: int) -> tuple[bool, str]:
        """Add `token` to `row`: whether the row has finished, and the text it released."""
        row.tokens.append(token)
        guard = row.guard
        if token in self.token_ids.eos and (guard is not None or not self.gen.ignore_eos):
            row.finish = FinishReason.STOP
            return True, ""
        if guard is not None:
            guard.advance(0, token)
        text = row.stream.push(token)
        if row.stream.stopped:
            row.finish = FinishReason.STOP_STRING
        elif guard is not None and guard.complete(0):
            row.finish = FinishReason.STOP  # only the end could follow: no step spent on it
        elif len(row.tokens) >= self.gen.max_tokens:
            row.finish = FinishReason.LENGTH
        return row.finish is not None, text

    def _step_inputs(self, running: RunningBatch) -> RunningBatch:
        """The running batch with one more mask column and the next positions."""
        import torch

        mask = torch.cat([running.mask, torch.ones_like(running.mask[:, :1])], dim=1)  # (B, T+1)
        return RunningBatch(cache=running.cache, mask=mask, positions=self.adapter.decode_positions(running.positions))

    def _complete(self, row: _Row, *, tokens: bool) -> Iterator[Completion | TokenEvent]:
        """The row's last text (with `tokens`) and its `Completion`."""
        tail = row.stream.finish()
        if tokens and tail:
            yield TokenEvent(index=row.index, token_id=-1, text=tail)
        latency_s = time.perf_counter() - row.started - (self._away - row.away)
        result = make_result(
            request=row.prepared,
            text=row.stream.text,
            tokens=row.tokens,
            finish=row.finish,
            prompt_tokens=len(row.prompt),
            timings=row.timings,
            cache_hits=row.hits,
            fit=row.fit,
            notes=row.adapter.reducer.notes,
        )
        if row.guard is not None:
            judge_result(result, row.request.constraint, finish=row.finish, can_end=row.guard.can_end(0))
        yield Completion(index=row.index, result=result, latency_s=latency_s)


def _numbered(requests: Iterable[Request]) -> Iterator[tuple[int, "Request | InputError"]]:
    """The stream's requests with their indices. A sequence's item whose taking raises
    `InputError` is that error in its place (`commands._inputs.DecodedWhenTaken` decodes a file
    again when taken: one deleted or rewritten since it was checked fails alone)."""
    if not isinstance(requests, Sequence):
        yield from enumerate(requests)
        return
    for index in range(len(requests)):
        try:
            request: Request | InputError = requests[index]
        except InputError as error:
            request = error
        yield index, request


def _charge(rows: list[_Row], seconds: float) -> None:
    """`seconds` of work done for all `rows` together, shared equally as their decode time."""
    for row in rows:
        row.timings.decode_s += seconds / len(rows)


def _by_adapter(rows: list[_Row]) -> list[list[_Row]]:
    """Newcomers grouped by the adapter (resolution policy) they were prepared with, in order."""
    groups: dict[int, list[_Row]] = {}
    for row in rows:
        groups.setdefault(id(row.adapter), []).append(row)
    return list(groups.values())
