"""`Engine`: the object the commands hold. Load once, then stream or generate many times."""

from __future__ import annotations

import dataclasses

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from vlmcli.engine.cache import FeatureCache
from vlmcli.engine.compiled import CompiledDecoder
from vlmcli.engine.config import EngineConfig, GenerationConfig
from vlmcli.engine.events import FinishEvent, GenerationResult, TokenEvent
from vlmcli.engine.fit import prepare_batch
from vlmcli.engine.generate import TokenIds, generate_stream
from vlmcli.engine.loader import LoadedModel, load_model
from vlmcli.engine.request import Request
from vlmcli.errors import ResourceError

if TYPE_CHECKING:
    from vlmcli.engine.batching_mode import BatchingMode
    from vlmcli.engine.scheduler import Completion, ContinuousScheduler


def _as_set(value: Any) -> frozenset[int]:
    if value is None:
        return frozenset()
    if isinstance(value, int):
        return frozenset({value})
    return frozenset(int(v) for v in value)


def _decode_step(adapter: Any, config: EngineConfig) -> Any:
    """The decode step's runner (see `Engine.step`)."""
    device_type = adapter.model.device.type
    if config.compile and adapter.quantization != "none":
        from vlmcli.quantize.compiled_step import CompiledInt8Step

        step = CompiledInt8Step.for_decoder(adapter.decoder, device_type=device_type)
        if step is not None:
            return step
    if config.compile:
        return CompiledDecoder(adapter.decoder, device_type=device_type)
    if adapter.quantization == "none":
        return None
    from vlmcli.quantize.decode_step import FusedDecodeStep

    return FusedDecodeStep.for_decoder(adapter.decoder)


class Engine:
    def __init__(self, loaded: LoadedModel, config: EngineConfig) -> None:
        self.loaded = loaded
        self.config = config
        self.adapter = loaded.adapter
        self.model_id = config.model
        self.family = self.adapter.family
        self.load_s = loaded.load_s
        self.cache = FeatureCache(max_entries=config.feature_cache_entries, folder=config.feature_cache_dir)
        self.tokenizer = loaded.processor.tokenizer
        self.token_ids = self._token_ids()
        self.step = _decode_step(self.adapter, config)
        """What runs the decode steps: the compiled decoder under `--compile`, the fused int8
        step under `--quantize int8` where the decoder allows it, else None (the eager decoder)."""

    @classmethod
    def load(cls, config: EngineConfig) -> "Engine":
        return cls(load_model(config), config)

    @property
    def revision(self) -> str | None:
        return self.loaded.source.revision

    def _token_ids(self) -> TokenIds:
        gen_config = getattr(self.adapter.model, "generation_config", None)
        eos = _as_set(getattr(gen_config, "eos_token_id", None)) or _as_set(self.tokenizer.eos_token_id)
        pad = getattr(gen_config, "pad_token_id", None)
        if pad is None:
            pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = min(eos) if eos else 0
        return TokenIds(eos=eos, pad=int(pad))

    def with_model_defaults(self, gen: GenerationConfig) -> GenerationConfig:
        """`gen` with what it leaves to the model filled from its generation_config.json: the
        repetition penalty, which `model.generate(do_sample=False)` applies (Qwen2-VL and
        Qwen2.5-VL Instruct ship 1.05), so greedy output stays transformers' own."""
        if gen.repetition_penalty is not None:
            return gen
        model_config = getattr(self.adapter.model, "generation_config", None)
        penalty = getattr(model_config, "repetition_penalty", None)
        return dataclasses.replace(gen, repetition_penalty=float(penalty) if penalty else 1.0)

    def stream(self, requests: Sequence[Request], gen: GenerationConfig) -> Iterator[TokenEvent | FinishEvent]:
        """Yield TokenEvents as tokens arrive and one FinishEvent per request (one batch)."""
        import torch

        gen = self.with_model_defaults(gen)
        batch = prepare_batch(self.adapter, requests, truncate=self.config.truncate, answer_tokens=gen.max_tokens)
        try:
            yield from generate_stream(
                adapter=batch.adapter,
                requests=batch.requests,
                fit=batch.fit,
                gen=gen,
                cache=self.cache,
                token_ids=self.token_ids,
                tokenizer=self.tokenizer,
                step=self.step,
                constraints=[r.constraint for r in requests],
            )
        except torch.OutOfMemoryError:
            raise ResourceError(
                f"Out of memory running {len(requests)} request(s); lower --max-pixels/--max-tiles, "
                "the batch size, or use --dtype bfloat16."
            ) from None

    def generate(self, requests: Sequence[Request], gen: GenerationConfig) -> list[GenerationResult]:
        results: list[GenerationResult | None] = [None] * len(requests)
        for event in self.stream(requests, gen):
            if isinstance(event, FinishEvent):
                results[event.index] = event.result
        return [r for r in results if r is not None]

    def batching(self, *, slots: int, static: bool = False) -> "BatchingMode":
        """Whether bulk work runs continuously batched here (and why not when it does not)."""
        from vlmcli.engine.batching_mode import choose_batching

        return choose_batching(self.adapter, slots=slots, static=static, compiled=getattr(self.step, "compiled", False))

    def scheduler(self, gen: GenerationConfig, *, slots: int, prefill_tokens: int | None = None) -> "ContinuousScheduler":
        """A continuous-batching scheduler over this engine's model (`engine.scheduler`); check
        `batching(...)` first: only families with movable caches run exactly there."""
        from vlmcli.engine.scheduler import ContinuousScheduler

        return ContinuousScheduler(
            adapter=self.adapter,
            gen=self.with_model_defaults(gen),
            cache=self.cache,
            token_ids=self.token_ids,
            tokenizer=self.tokenizer,
            slots=slots,
            truncate=self.config.truncate,
            prefill_tokens=prefill_tokens,
            step=self.step,
        )

    def serve(
        self,
        requests: Iterable[Request],
        gen: GenerationConfig,
        *,
        slots: int,
        prefill_tokens: int | None = None,
        tokens: bool = False,
    ) -> Iterator["Completion | TokenEvent"]:
        """Continuous batching over a stream of requests: one `Completion` per request, in the
        order they finish (`scheduler(...).run`), and with `tokens` each row's text as it
        arrives; out of memory is a `ResourceError`."""
        import torch

        try:
            yield from self.scheduler(gen, slots=slots, prefill_tokens=prefill_tokens).run(requests, tokens=tokens)
        except torch.OutOfMemoryError:
            raise ResourceError(
                f"Out of memory with {slots} decode slot(s); lower --max-pixels/--max-tiles, "
                "the batch size, or use --dtype bfloat16."
            ) from None
