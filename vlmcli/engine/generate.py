"""The generation loop: vision encode, merge, prefill, then token-by-token decode with a KV cache.

This is vlmcli's own loop, not a wrapper around `model.generate`. It calls the language
model and the LM head directly, so it controls batching, streaming and stopping, while
doing exactly the arithmetic transformers does for greedy decoding (the tests check token
for token equality with `model.generate(do_sample=False)`):

- prompts are left-padded; positions count real tokens only; every decode step appends
  one column to the attention mask for all rows;
- rows that have finished keep decoding a pad token (their output is ignored), so the
  batch shape, and therefore the numerics of the other rows, never change (bulk runs of
  families with movable caches evict them instead: `engine.scheduler`);
- logits of the last position are taken in float32 before any processing;
- a row with a constraint (`Request.constraint`) has the tokens its grammar forbids masked
  to -inf before the choice, greedy or sampled (`vlmcli.structured.guard`); it ends when its
  grammar is complete, and its result says whether the answer is `valid`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vlmcli.engine.adapters.base import Adapter, PreparedRequest
from vlmcli.engine.batch import collate
from vlmcli.engine.cache import FeatureCache
from vlmcli.engine.compiled import CompiledDecoder
from vlmcli.engine.config import GenerationConfig
from vlmcli.engine.detok import TextStream
from vlmcli.engine.events import FinishEvent, FinishReason, ResolutionFit, Timings, TokenEvent
from vlmcli.engine.fit_advice import Remedies, static_remedies
from vlmcli.engine.kvcache import cache_keyword, growing_cache
from vlmcli.engine.results import batch_shares, judge_result, make_result
from vlmcli.engine.sampling import apply_repetition_penalty, choose_next, make_generators
from vlmcli.engine.vision import encode_batch
from vlmcli.errors import ContextLengthError

if TYPE_CHECKING:
    import torch

    from vlmcli.quantize.compiled_step import CompiledInt8Step
    from vlmcli.quantize.decode_step import FusedDecodeStep
    from vlmcli.structured.guard import Guard
    from vlmcli.structured.spec import Constraint


@dataclass(frozen=True)
class TokenIds:
    """Special token ids of a model, as `model.generate` would use them."""

    eos: frozenset[int]
    pad: int


@dataclass
class _Row:
    stream: TextStream
    tokens: list[int] = field(default_factory=list)
    finish: FinishReason | None = None


def context_length(config: Any) -> int | None:
    """The model's context window in tokens (max_position_embeddings of the text model)."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return getattr(text, "max_position_embeddings", None)


def check_context(prompt_tokens: int, config: Any, *, remedies: Remedies | None = None) -> None:
    """Raise ContextLengthError when `prompt_tokens` fill the context; the message names the
    flags `remedies` says can help (`fit_advice`; None: all of them)."""
    limit = context_length(config)
    if limit is not None and prompt_tokens >= limit:
        advice = (remedies or Remedies()).overflow(answer=False)
        raise ContextLengthError(
            f"The prompt needs {prompt_tokens} tokens but the model's context length is {limit}; {advice}."
        )


def generate_stream(
    *,
    adapter: Adapter,
    requests: list[PreparedRequest],
    gen: GenerationConfig,
    cache: FeatureCache,
    token_ids: TokenIds,
    tokenizer: Any,
    fit: ResolutionFit | None = None,
    step: "CompiledDecoder | CompiledInt8Step | FusedDecodeStep | None" = None,
    constraints: Sequence["Constraint | None"] = (),
) -> Iterator[TokenEvent | FinishEvent]:
    """Run one batch; yield TokenEvents as tokens arrive and one FinishEvent per request.
    `fit` (from `--truncate`) is passed through to every result; `step`, when given, runs
    the decode steps instead of the adapter's eager decoder (`--compile`, the fused int8 step). `constraints`
    (one per request, None for free text; empty: none) mask each row's tokens."""
    import torch

    model = adapter.model
    device = model.device
    timings = Timings()
    decoder = adapter.decoder if step is None else step
    # inductor cannot trace inference tensors, so a compiled step runs under no_grad
    with torch.inference_mode() if step is None or step.inference_mode else torch.no_grad():
        start = time.perf_counter()
        vision = encode_batch(adapter, requests, cache)
        timings.vision_s = time.perf_counter() - start

        batch = collate(requests, pad_id=token_ids.pad)
        remedies = static_remedies(adapter, requests)  # a backstop: `fit.prepare_batch` checked the budget
        for length in batch.lengths:
            check_context(length, model.config, remedies=remedies)
        input_ids = batch.input_ids.to(device)  # (B, L)
        mask = batch.attention_mask.to(device)  # (B, L)
        extras = {k: v.to(device) for k, v in batch.token_extras.items()}  # each (B, L)

        start = time.perf_counter()
        embeds = adapter.embed(input_ids)  # (B, L, D)
        merged = adapter.merge(input_ids, embeds, vision.features)
        positions = adapter.prefill_positions(input_ids, mask, extras=extras, requests=requests)
        # the KV cache, under the keyword this transformers version's decoders take it by
        kv_cache = growing_cache(model.config.get_text_config(decoder=True), reserve=gen.max_tokens)
        kv = {cache_keyword(adapter.decoder): kv_cache}
        logits = forward_logits(  # (B, V)
            adapter.decoder, adapter, embeds=merged.embeds, mask=mask, positions=positions, kv=kv,
            decoder_kwargs=merged.decoder_kwargs,
        )
        timings.prefill_s = time.perf_counter() - start

        rows = [_Row(stream=TextStream(tokenizer, gen.stop)) for _ in requests]
        guard = _guard(constraints, tokenizer=tokenizer, vocab_size=logits.shape[-1], eos=token_ids.eos)
        generators = None if gen.greedy else make_generators(len(requests), gen.seed)
        seen, seen_mask = input_ids, mask.bool()  # (B, S)
        decode_start = time.perf_counter()
        for produced in range(gen.max_tokens):
            if gen.penalty != 1.0:
                logits = apply_repetition_penalty(logits, seen, seen_mask, gen.penalty)
            if guard is not None:
                guard.mask(logits)  # (B, V), forbidden tokens of constrained rows at -inf
            next_tokens = choose_next(logits, gen, generators)  # (B,)
            active = torch.tensor([row.finish is None for row in rows], device=device)  # (B,)
            next_tokens = torch.where(active, next_tokens, torch.full_like(next_tokens, token_ids.pad))
            for index, (row, token) in enumerate(zip(rows, next_tokens.tolist())):
                if row.finish is not None:
                    continue
                row.tokens.append(token)
                constrained = guard is not None and guard.matchers[index] is not None
                if token in token_ids.eos and (constrained or not gen.ignore_eos):
                    row.finish = FinishReason.STOP
                    _stop(guard, index)
                    continue
                if constrained:
                    guard.advance(index, token)  # type: ignore[union-attr]
                text = row.stream.push(token)
                if text:
                    yield TokenEvent(index=index, token_id=token, text=text)
                if row.stream.stopped:
                    row.finish = FinishReason.STOP_STRING
                elif constrained and guard.complete(index):  # type: ignore[union-attr]
                    row.finish = FinishReason.STOP  # only the end could follow: no step spent on it
                elif len(row.tokens) >= gen.max_tokens:
                    row.finish = FinishReason.LENGTH
                if row.finish is not None:
                    _stop(guard, index)
            if all(row.finish is not None for row in rows) or produced == gen.max_tokens - 1:
                break
            seen = torch.cat([seen, next_tokens[:, None]], dim=1)  # (B, S+1)
            seen_mask = torch.cat([seen_mask, torch.ones_like(seen_mask[:, :1])], dim=1)  # (B, S+1)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)  # (B, L+t)
            positions = adapter.decode_positions(positions)  # (..., B, 1)
            step_embeds = adapter.embed(next_tokens[:, None])  # (B, 1, D)
            logits = forward_logits(  # (B, V)
                decoder, adapter, embeds=step_embeds, mask=mask, positions=positions, kv=kv,
                decoder_kwargs=adapter.decode_kwargs(next_tokens[:, None]),
            )
        timings.decode_s = time.perf_counter() - decode_start

    shared = batch_shares(timings, requests, hits=vision.hits, prompt_tokens=batch.lengths)  # each answer its share
    for index, (row, request) in enumerate(zip(rows, requests)):
        tail = row.stream.finish()
        if tail:
            yield TokenEvent(index=index, token_id=-1, text=tail)
        result = make_result(
            request=request,
            text=row.stream.text,
            tokens=row.tokens,
            finish=row.finish,
            prompt_tokens=batch.lengths[index],
            timings=shared[index],
            cache_hits=vision.hits[index],
            fit=fit,
            notes=adapter.reducer.notes,
        )
        if guard is not None and guard.matchers[index] is not None:
            judge_result(result, constraints[index], finish=row.finish, can_end=guard.can_end(index))
        yield FinishEvent(index=index, result=result)


def _guard(
    constraints: Sequence["Constraint | None"], *, tokenizer: Any, vocab_size: int, eos: frozenset[int]
) -> "Guard | None":
    """The batch's token mask, or None when no request has a constraint (nothing is imported)."""
    if not any(c is not None for c in constraints):
        return None
    from vlmcli.structured.guard import Guard

    return Guard(constraints, tokenizer=tokenizer, vocab_size=vocab_size, eos=eos)


def _stop(guard: "Guard | None", index: int) -> None:
    if guard is not None:
        guard.stop(index)


def forward_logits(
    decoder: Any,
    adapter: Adapter,
    *,
    embeds: "torch.Tensor",
    mask: "torch.Tensor",
    positions: "torch.Tensor",
    kv: dict[str, Any],
    decoder_kwargs: dict[str, Any],
) -> "torch.Tensor":
    """One decoder pass; float32 logits of the last position, (B, V). `kv` is the KV cache
    under the keyword the decoder takes it by (`cache_keyword`)."""
    import torch

    out = decoder(
        inputs_embeds=embeds,  # (B, T, D)
        attention_mask=mask,  # (B, past + T)
        position_ids=positions,
        use_cache=True,
        **kv,
        **decoder_kwargs,
    )
    hidden = out.last_hidden_state[:, -1:, :]  # (B, 1, D)
    return adapter.lm_head(hidden)[:, -1].to(copy=True, dtype=torch.float32)  # (B, V)
