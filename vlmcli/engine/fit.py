"""Prepare a batch, check it fits the context, and with `--truncate` lower its resolution until it does.

A batch fits when its longest prompt plus the answer budget (`--max-tokens`) is at most
the model's context length (`check_budget`); the real run (`Engine.stream`) and the dry
run (`commands/_dry_run.py`) both go through `prepare_batch`, so they fail (exit code 5)
or lower the resolution on exactly the same numbers. Without `--truncate` a batch that
does not fit is a `ContextLengthError` that names the flags that can lower its longest
prompt's tokens (`fit_advice`: a `--min-pixels` floor, `--frames` for a video,
`--max-pixels` and `--truncate` only where a lower cap lowers them). With it, the batch
is prepared again under lower pixel caps (`tiling.budget`: halving, then bisection) until
its longest prompt leaves room for the whole answer; the lowered policy applies to every
image and frame of the batch, and the result says so (`ResolutionFit`). Text is never cut
and no image loses part of its tokens: when even the lowest resolution cannot fit
(fixed-cost views, too many frames, a long question, a `--max-tokens` as large as the
context) it fails with the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vlmcli.engine.adapters.base import Adapter, PreparedRequest
from vlmcli.engine.events import ResolutionFit
from vlmcli.engine.fit_advice import Remedies, kinds, longest_index, longest_remedies
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


def check_budget(
    *, prompt_tokens: int, answer_tokens: int, limit: int | None, remedies: Remedies | None = None
) -> None:
    """Raise ContextLengthError unless `prompt_tokens + answer_tokens <= limit` (None: no limit);
    the message names the flags `remedies` says can help (None: all of them)."""
    if limit is not None and answer_tokens >= limit > prompt_tokens:  # only --max-tokens helps: its budget fills the context
        raise ContextLengthError(_no_room(answer_tokens, limit, prompt_tokens))
    if limit is not None and prompt_tokens + answer_tokens > limit:
        advice = (remedies or Remedies()).overflow()
        raise ContextLengthError(
            f"The prompt needs {prompt_tokens} tokens and the answer up to {answer_tokens} more (--max-tokens), "
            f"{prompt_tokens + answer_tokens} in all, but the model's context length is {limit}; {advice}."
        )


def _no_room(answer_tokens: int, limit: int, prompt_tokens: int) -> str:
    most = f" (this prompt needs {prompt_tokens}: at most {limit - prompt_tokens})" if prompt_tokens < limit else ""
    return (
        f"--max-tokens {answer_tokens} leaves no room for the prompt in the model's context length ({limit} tokens), "
        f"whatever the resolution; lower --max-tokens{most}."
    )


def prepare_batch(
    adapter: Adapter, requests: Sequence[Request], *, truncate: bool, answer_tokens: int
) -> FittedBatch:
    """Prepare `requests`; with `truncate`, at the highest resolution that leaves room for
    `answer_tokens`, else raise ContextLengthError when they do not fit (module docstring)."""
    prepared = [adapter.prepare(r) for r in requests]
    limit = context_length(adapter.config)
    needed = _longest(prepared)
    if limit is None or needed + answer_tokens <= limit:
        return FittedBatch(adapter, prepared)
    if not truncate:
        only_answer = answer_tokens >= limit > needed  # only --max-tokens helps: nothing to probe
        remedies = None if only_answer else longest_remedies(adapter, requests, prepared)
        check_budget(prompt_tokens=needed, answer_tokens=answer_tokens, limit=limit, remedies=remedies)
    target = limit - answer_tokens
    if target < 1:
        raise ContextLengthError(_no_room(answer_tokens, limit, needed))
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
            f"The prompt needs {needed} tokens and the answer up to {answer_tokens} more (--max-tokens), but the "
            f"model's context length is {limit}, and even the lowest resolution --truncate can use needs {lowest[0]} "
            f"(at most {target} leave room for the answer); {kinds(requests[longest_index(prepared)]).lowest()}."
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
        answer_tokens=answer_tokens,
    )
    return FittedBatch(candidate, batch, fit)
