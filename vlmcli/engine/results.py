"""One request's `GenerationResult`, as both decode loops (static `generate`, continuous
`scheduler`) report it: the text and tokens, why it ended, what its images and videos cost,
its share of its batch's time (`shares`: per-request timings add up to the batch's), and,
for a constrained answer, whether it is complete under its grammar."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from vlmcli.engine.adapters.base import PreparedRequest
from vlmcli.engine.events import FinishReason, GenerationResult, ImageUsage, ResolutionFit, Timings

if TYPE_CHECKING:
    from vlmcli.structured.spec import Constraint


def image_usage(request: PreparedRequest) -> list[ImageUsage]:
    """The resolution each image of `request` was seen at (frames of a video are reported with the video)."""
    return [
        ImageUsage(
            source=im.source.source,
            width=im.source.image.width,
            height=im.source.image.height,
            resized=im.resized,
            visual_tokens=im.visual_tokens,
            grid=im.grid,
        )
        for im in request.images
        if im.video is None
    ]


def shares(total: float, weights: Sequence[float]) -> list[float]:
    """`total` split in proportion to `weights` (equally when they are all zero): the parts
    add up to `total`, so per-request timings of a batch can be summed without counting the
    batch twice."""
    if not weights:
        return []
    weight = float(sum(weights))
    if weight <= 0:
        return [total / len(weights)] * len(weights)
    return [total * w / weight for w in weights]


def vision_weight(request: PreparedRequest, hits: int) -> float:
    """How much of a batch's vision encoding `request` caused: its visual tokens, less the
    part of its images and videos found in the feature cache (not encoded again)."""
    items = len(request.visual_items)
    if items <= 0:
        return float(request.visual_tokens)
    return request.visual_tokens * max(0, items - hits) / items


def batch_shares(
    timings: Timings, requests: Sequence[PreparedRequest], *, hits: Sequence[int], prompt_tokens: Sequence[int]
) -> list[Timings]:
    """Each request's share of one static batch's `timings` (`Timings`): vision by the
    visual tokens it had encoded, prefill by its prompt tokens, decode equally (every row of a
    static batch takes part in every step, finished rows decoding padding)."""
    vision = shares(timings.vision_s, [vision_weight(r, h) for r, h in zip(requests, hits)])
    prefill = shares(timings.prefill_s, [float(n) for n in prompt_tokens])
    decode = shares(timings.decode_s, [1.0] * len(requests))
    return [
        Timings(load_s=timings.load_s, vision_s=v, prefill_s=p, decode_s=d) for v, p, d in zip(vision, prefill, decode)
    ]


def make_result(
    *,
    request: PreparedRequest,
    text: str,
    tokens: list[int],
    finish: FinishReason | None,
    prompt_tokens: int,
    timings: Timings,
    cache_hits: int,
    fit: ResolutionFit | None,
    notes: tuple[str, ...],
) -> GenerationResult:
    return GenerationResult(
        text=text,
        token_ids=tokens,
        finish_reason=finish or FinishReason.LENGTH,
        prompt_tokens=prompt_tokens,
        visual_tokens=request.visual_tokens,
        completion_tokens=len(tokens),
        timings=timings,
        images=image_usage(request),
        vision_cache_hits=cache_hits,
        videos=list(request.usage),
        fit=fit,
        notes=notes,
    )


def judge_result(
    result: GenerationResult, constraint: "Constraint | None", *, finish: FinishReason | None, can_end: bool
) -> None:
    """Set `valid`/`parsed` of a constrained row's result. Ended by the grammar (or an EOS it
    accepted): complete; cut short: complete only if it could end where it stopped."""
    from vlmcli.structured.verdict import judge

    assert constraint is not None
    complete = finish is FinishReason.STOP or (finish in (None, FinishReason.LENGTH) and can_end)
    verdict = judge(constraint, result.text, complete=complete)
    result.valid, result.parsed = verdict.valid, verdict.parsed
