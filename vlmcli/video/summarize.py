"""Summarise a video of any length: describe each segment, then summarise the descriptions.

1. `plan_summary` (cheap, no frame decoding beyond a thumbnail scan): probe the file, scan it
   for cuts, cut it into segments (`segments.py`) and plan each segment's frames with the
   chosen sampler on a segment-local view.
2. `summarize` walks the plan: for each segment it decodes only that segment's frames, asks
   the engine for a description with the segment's time range, and drops the frames
   before the next segment, so memory is bounded by one segment whatever the video's
   length. Then one text-only request turns the segment descriptions into the summary,
   streamed token by token.

The engine is anything with `stream(requests, gen)` yielding `TokenEvent`/`FinishEvent`
(the CLI passes the real one; tests may pass a fake). Events are plain dataclasses.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from vlmcli.engine.events import FinishEvent, GenerationResult, TokenEvent
from vlmcli.engine.request import Request
from vlmcli.engine.video_input import VideoInput
from vlmcli.video.decode import Opener, open_decord, probe, read_frames
from vlmcli.video.metadata import VideoInfo
from vlmcli.video.sampling import SamplePlan, SamplingMethod, SamplingOptions, get_sampler
from vlmcli.video.sampling.cuts import detect_cuts
from vlmcli.video.sampling.uniform import UniformSampler
from vlmcli.video.scan import scan_video
from vlmcli.video.segments import (
    DEFAULT_SEGMENT_SECONDS,
    Segment,
    plan_segments,
    segment_info,
    segment_scan,
    shift_plan,
)

SEGMENT_PROMPT = (
    "These frames are from {start} to {end} of a video. "
    "Describe what happens in this part in one or two sentences."
)
SUMMARY_PROMPT = (
    "Here are descriptions of consecutive parts of a {duration} video, in order:\n{parts}\n\n"
    "Write a short summary of the whole video."
)


def clock(seconds: float) -> str:
    """0:07.5 / 12:03.0 / 1:02:03.0: minutes (and hours) with one decimal of seconds."""
    minutes, secs = divmod(max(0.0, seconds), 60.0)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:04.1f}" if hours else f"{minutes}:{secs:04.1f}"


@dataclass(frozen=True)
class SegmentPlan:
    segment: Segment
    frames: SamplePlan
    """Frames of this segment, in whole-video frame numbers."""


@dataclass(frozen=True)
class SummaryPlan:
    info: VideoInfo
    segments: tuple[SegmentPlan, ...]


def plan_summary(
    path: str | os.PathLike[str],
    *,
    method: SamplingMethod | str = SamplingMethod.UNIFORM,
    options: SamplingOptions = SamplingOptions(max_frames=8),
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS,
    scenes: bool = True,
    opener: Opener = open_decord,
) -> SummaryPlan:
    """Segments and per-segment frames of `path`; decodes only a thumbnail scan (if needed)."""
    sampler = get_sampler(method)
    info = probe(path, opener=opener)
    scan = scan_video(path, info=info, opener=opener) if scenes or sampler.needs_scan else None
    cuts: list[int] = []
    if scenes and scan is not None:
        cuts = [int(scan.indices[p]) for p in detect_cuts(scan.pixel_delta, scan.hist_delta)]
    planned = []
    for segment in plan_segments(info, cuts=cuts, segment_seconds=segment_seconds):
        local, local_scan = segment_info(info, segment), segment_scan(scan, segment)
        chosen = sampler if (local_scan is not None or not sampler.needs_scan) else UniformSampler()
        frames = chosen.select(local, local_scan if chosen.needs_scan else None, options=options)
        planned.append(SegmentPlan(segment=segment, frames=shift_plan(frames, segment, info.fps)))
    return SummaryPlan(info=info, segments=tuple(planned))


def segment_video(
    plan: SummaryPlan, item: SegmentPlan, *, max_side: int | None, opener: Opener = open_decord
) -> VideoInput:
    """Decode one segment's frames (and nothing else) as an engine `VideoInput`."""
    info, segment = plan.info, item.segment
    frames = read_frames(info.path, item.frames.indices, max_side=max_side, info=info, opener=opener)
    return VideoInput(
        frames=frames.pixels,
        timestamps=frames.timestamps,
        fps=info.fps,
        indices=frames.indices,
        duration_s=segment.end_s - segment.start_s,
        source=f"{info.path}@{clock(segment.start_s)}-{clock(segment.end_s)}",
    )


@dataclass(frozen=True)
class SegmentDone:
    """One segment described."""

    segment: Segment
    frames: SamplePlan
    text: str
    result: GenerationResult


@dataclass(frozen=True)
class SummaryDone:
    """The overall summary, complete (its tokens came before as `TokenEvent`s)."""

    text: str
    result: GenerationResult


def segment_request(video: VideoInput, segment: Segment, *, system: str | None = None) -> Request:
    prompt = SEGMENT_PROMPT.format(start=clock(segment.start_s), end=clock(segment.end_s))
    return Request(prompt=prompt, videos=(video,), system=system)


def summary_request(info: VideoInfo, described: list[SegmentDone], *, system: str | None = None) -> Request:
    parts = "\n".join(
        f"[{clock(d.segment.start_s)}-{clock(d.segment.end_s)}] {d.text.strip() or '(no description)'}"
        for d in described
    )
    return Request(prompt=SUMMARY_PROMPT.format(duration=clock(info.duration_s), parts=parts), system=system)


def _finish(events: Iterator[Any], on_token: bool) -> Iterator[TokenEvent | GenerationResult]:
    for event in events:
        if isinstance(event, TokenEvent) and on_token:
            yield event
        elif isinstance(event, FinishEvent):
            yield event.result


def summarize(
    engine: Any,
    plan: SummaryPlan,
    gen: Any,
    *,
    max_side: int | None,
    system: str | None = None,
    opener: Opener = open_decord,
) -> Iterator[SegmentDone | TokenEvent | SummaryDone]:
    """Describe each segment (one engine call each, one segment in memory), then stream the summary."""
    described: list[SegmentDone] = []
    for item in plan.segments:
        video = segment_video(plan, item, max_side=max_side, opener=opener)
        request = segment_request(video, item.segment, system=system)
        del video  # the request holds the only reference: freed after this call
        for result in _finish(engine.stream([request], gen), on_token=False):
            assert isinstance(result, GenerationResult)
            done = SegmentDone(segment=item.segment, frames=item.frames, text=result.text.strip(), result=result)
            described.append(done)
            yield done
        del request
    for out in _finish(engine.stream([summary_request(plan.info, described, system=system)], gen), on_token=True):
        if isinstance(out, TokenEvent):
            yield out
        else:
            yield SummaryDone(text=out.text.strip(), result=out)
