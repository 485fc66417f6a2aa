"""One request's `GenerationResult`, as both decode loops (static `generate`, continuous
`scheduler`) report it: the text and tokens, why it ended, what its images and videos cost,
and, for a constrained answer, whether it is complete under its grammar."""

from __future__ import annotations

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
