"""Prepare a batch, and with `--truncate` lower its resolution until every prompt fits.

Without `--truncate` a prompt of `context_length` tokens or more fails
(`generate.check_context`, exit code 5). With it, the batch is prepared again under lower
pixel caps (`tiling.budget`: halving, then bisection) until its longest prompt leaves room
for the answer (`--max-tokens`, at most a quarter of the context); the lowered policy
applies to every image and frame of the batch, and the result says so (`ResolutionFit`).
Text is never cut and no image loses part of its tokens: when even the lowest resolution
cannot fit (fixed-cost views, too many frames, a long question) it fails with the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vlmcli.engine.adapters.base import Adapter, PreparedRequest
from vlmcli.engine.events import ResolutionFit
from vlmcli.engine.generate import context_length
from vlmcli.engine.request import Request
from vlmcli.errors import ConfigError, ContextLengthError, InputError
from vlmcli.tiling import largest_fitting, lowered_policy


@dataclass(frozen=True)
class FittedBatch:
    """A prepared batch and the adapter (resolution policy) it was prepared with."""

    adapter: Adapter
    requests: list[PreparedRequest]
    fit: ResolutionFit | None = None
    """None when nothing was lowered."""


def _longest(requests: list[PreparedRequest]) -> int:
    return max((int(r.input_ids.shape[0]) for r in requests), default=0)


def _start_pixels(adapter: Adapter, requests: list[PreparedRequest]) -> int:
    """The largest pixel count any image or frame is prepared at now: the search starts there."""
    areas = [w * h for r in requests for w, h in (item.resized for item in r.visual_items)]
    if adapter.policy.max_pixels is not None:
        areas.append(adapter.policy.max_pixels)
    return max(areas, default=1)


def prepare_batch(
    adapter: Adapter, requests: Sequence[Request], *, truncate: bool, answer_tokens: int
) -> FittedBatch:
    """Prepare `requests`; with `truncate`, at the highest resolution that fits (module docstring)."""
    prepared = [adapter.prepare(r) for r in requests]
    limit = context_length(adapter.config)
    needed = _longest(prepared)
    if not truncate or limit is None or needed < limit:
        return FittedBatch(adapter, prepared)
    target = limit - min(answer_tokens, limit // 4)
    tried: dict[int, tuple[Adapter, list[PreparedRequest]] | None] = {}
    lowest = [needed]

    def fits(max_pixels: int) -> bool:
        if max_pixels not in tried:
            try:
                candidate = adapter.with_policy(lowered_policy(adapter.policy, max_pixels))
                batch = [candidate.prepare(r) for r in requests]
            except (ConfigError, InputError):  # below one tile or cell: no such resolution
                tried[max_pixels] = None
                return False
            lowest[0] = min(lowest[0], _longest(batch))
            tried[max_pixels] = (candidate, batch) if _longest(batch) <= target else None
        return tried[max_pixels] is not None

    best = largest_fitting(start=_start_pixels(adapter, prepared), fits=fits)
    if best is None:
        raise ContextLengthError(
            f"The prompt needs {needed} tokens but the model's context length is {limit}, and even the "
            f"lowest resolution --truncate can use needs {lowest[0]} (with room for the answer: {target}); "
            "use fewer images or frames, a shorter prompt, or --temporal-pool / --compress."
        )
    found = tried[best]
    assert found is not None
    candidate, batch = found
    fit = ResolutionFit(
        max_pixels=int(candidate.policy.max_pixels or best),
        max_tiles=candidate.policy.max_tiles,
        needed_tokens=needed,
        prompt_tokens=_longest(batch),
        context_length=limit,
    )
    return FittedBatch(candidate, batch, fit)
