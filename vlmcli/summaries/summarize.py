"""Summarise a video of any length: describe each segment, then summarise the descriptions.

1. `plan_summary` (cheap, no frame decoding beyond a thumbnail scan): probe the file, scan it
   for cuts, cut it into segments (`segments.py`) and plan each segment's frames with the
   chosen sampler on a segment-local view. The plan's times (segments, chapters, frames,
   and so the times the prompts give the model) are on the file's timeline, as a player
   shows them: when the picture starts after the file does (`VideoInfo.start_s`: audio
   first, or a TS cut before a keyframe) they are that much later than frame index / fps.
2. `summarize` walks the plan: for each segment it decodes only that segment's frames, asks
   the engine for a description with the segment's time range, and drops the frames
   before the next segment, so memory is bounded by one segment whatever the video's
   length. Then one text-only request turns the segment descriptions into the summary,
   streamed token by token.

What each request asks is `prompts.SummaryPrompts` (`--prompt` for the segments,
`--summary-prompt` for chapters and the summary). How the segments were cut, and whether
scene detection fell short (scan degraded or failed, scenes merged to respect the segment
cap), is the plan's `detection` (`scene_report.SceneReport`), which the command reports.

Very long videos (`Hierarchy.CHAPTERS`, or `AUTO` above `FLAT_MAX_SEGMENTS` segments) get
a second level: segments keep their own length (up to `CHAPTERS_MAX_SEGMENTS` of them,
instead of growing to duration / 40), consecutive segments are grouped into chapters of
at most `chapter_segments` (`CHAPTER_SEGMENTS` by default), as equal as possible
(`plan_chapters`: 45 segments make 5 chapters of 9), and each chapter's descriptions are
summarised by a text-only request as soon as the chapter ends; the overall summary is
then written from the chapter summaries. Only the current chapter's descriptions are
held, and every prompt holds at most one chapter's (or the chapters') lines, so prompt
length and memory stay bounded however many hours the video lasts. A text request whose
lines still outgrow the context is folded in halves (`fold.py`) instead of failing.

The engine is anything with `stream(requests, gen)` yielding `TokenEvent`/`FinishEvent`
(the CLI passes the real one; tests may pass a fake). Events are plain dataclasses.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from vlmcli.choices import Choice
from vlmcli.engine.events import GenerationResult, TokenEvent
from vlmcli.engine.request import Request
from vlmcli.engine.video_input import VideoInput
from vlmcli.errors import ConfigError, VideoError
from vlmcli.summaries.fold import Line, finished, folded
from vlmcli.summaries.prompts import (  # clock: re-exported for the command
    SummaryPrompts,
    chapter_prompt,
    clock,
    segment_prompt,
    summary_prompt,
)
from vlmcli.summaries.scene_report import SceneReport, report_scenes
from vlmcli.summaries.segments import (
    DEFAULT_MAX_SEGMENTS,
    DEFAULT_SEGMENT_SECONDS,
    Segment,
    on_file_timeline,
    plan_segments,
    segment_info,
    segment_scan,
    shift_plan,
)
from vlmcli.video.decode import Frames, Opener, damage_note, open_decord, probe, read_frames
from vlmcli.video.metadata import VideoInfo
from vlmcli.video.sampling import SamplePlan, SamplingMethod, SamplingOptions, get_sampler
from vlmcli.video.sampling.cuts import scan_cuts
from vlmcli.video.sampling.uniform import UniformSampler
from vlmcli.video.scan import Scan, scan_video

FLAT_MAX_SEGMENTS = DEFAULT_MAX_SEGMENTS  # one summary prompt holds this many lines
CHAPTER_SEGMENTS = 10  # segments per chapter
CHAPTERS_MAX_SEGMENTS = 400  # ~40 chapters of 10: 3 h 20 min of 30 s segments


class Hierarchy(Choice):
    """How segment descriptions become the summary."""

    AUTO = "auto"
    """Chapters when the video has more than FLAT_MAX_SEGMENTS segments, else flat."""
    FLAT = "flat"
    """One summary over all segments (long videos get longer segments instead)."""
    CHAPTERS = "chapters"
    """Segments -> chapter summaries -> the summary."""

    @classmethod
    def label(cls) -> str:
        return "summary hierarchy"


@dataclass(frozen=True)
class SegmentPlan:
    segment: Segment
    frames: SamplePlan
    """Frames of this segment, in whole-video frame numbers."""


@dataclass(frozen=True)
class Chapter:
    """Consecutive segments [first, last] (indices into the plan's segments) summarised together."""

    index: int
    first: int
    last: int
    start_s: float
    end_s: float


@dataclass(frozen=True)
class SummaryPlan:
    info: VideoInfo
    segments: tuple[SegmentPlan, ...]
    chapters: tuple[Chapter, ...] = ()
    """Empty for a flat summary."""
    detection: SceneReport | None = None
    """How the segments were cut (set by `plan_summary`; None only for plans built by hand)."""
    stretched: str | None = None
    """One line when segments run longer than --segment-seconds to keep the flat cap (a warning)."""


def plan_chapters(segments: Sequence[Segment], *, size: int = CHAPTER_SEGMENTS) -> tuple[Chapter, ...]:
    """Split `segments` into ceil(n / size) runs of consecutive segments, as equal as possible."""
    if size < 1:
        raise ValueError(f"chapter size must be >= 1, got {size}")
    n = len(segments)
    count = math.ceil(n / size)
    edges = [n * j // count for j in range(count + 1)] if count else [0]
    return tuple(
        Chapter(k, a, b - 1, segments[a].start_s, segments[b - 1].end_s)
        for k, (a, b) in enumerate(zip(edges[:-1], edges[1:]))
    )


def plan_summary(
    path: str | os.PathLike[str],
    *,
    method: SamplingMethod | str = SamplingMethod.UNIFORM,
    options: SamplingOptions = SamplingOptions(max_frames=8),
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS,
    scenes: bool = True,
    hierarchy: Hierarchy | str = Hierarchy.AUTO,
    chapter_segments: int = CHAPTER_SEGMENTS,
    opener: Opener = open_decord,
    info: VideoInfo | None = None,
) -> SummaryPlan:
    """Segments (and chapters, see `Hierarchy`) and per-segment frames of `path`; decodes
    only a thumbnail scan (if needed). `info`: the `probe` of `path`, when the caller has it."""
    shape = Hierarchy.parse(hierarchy)
    if chapter_segments < 2:
        raise ConfigError(f"A chapter needs at least 2 segments, got {chapter_segments}.")
    sampler = get_sampler(method)
    info = info if info is not None else probe(path, opener=opener)
    scan, scan_error = _scan(path, info, opener) if scenes or sampler.needs_scan else (None, None)
    cuts: list[int] = []
    if scenes and scan is not None:
        cuts = [int(i) for i in scan_cuts(scan)[1]]
    planned = []
    most = FLAT_MAX_SEGMENTS if shape is Hierarchy.FLAT else CHAPTERS_MAX_SEGMENTS
    segments = plan_segments(info, cuts=cuts, segment_seconds=segment_seconds, max_segments=most)
    hint = f" (--hierarchy flat; auto keeps up to {CHAPTERS_MAX_SEGMENTS})" if shape is Hierarchy.FLAT else ""
    detection = report_scenes(
        info, requested=scenes, scan=scan, scan_error=scan_error, cuts=cuts, max_segments=most, cap_hint=hint
    )
    chaptered = shape is Hierarchy.CHAPTERS or (shape is Hierarchy.AUTO and len(segments) > FLAT_MAX_SEGMENTS)
    for segment in segments:
        local, local_scan = segment_info(info, segment), segment_scan(scan, segment)
        chosen = sampler if (local_scan is not None or not sampler.needs_scan) else UniformSampler()
        frames = chosen.select(local, local_scan if chosen.needs_scan else None, options=options)
        shown, frames = on_file_timeline(segment, shift_plan(frames, segment, info), start_s=info.start_s)
        planned.append(SegmentPlan(segment=shown, frames=frames))
    chapters = plan_chapters([p.segment for p in planned], size=chapter_segments) if chaptered else ()
    stretched = _stretched(info, cuts, segments, segment_seconds) if shape is Hierarchy.FLAT else None
    return SummaryPlan(info=info, segments=tuple(planned), chapters=chapters, detection=detection, stretched=stretched)


def _stretched(info: VideoInfo, cuts: Sequence[int], segments: Sequence[Segment], segment_seconds: float) -> str | None:
    """The warning when the flat cap made segments longer than `segment_seconds` (the same cuts
    under the chaptered cap give more segments), else None."""
    longest = max((s.end_s - s.start_s for s in segments), default=0.0)
    if longest <= segment_seconds:
        return None
    uncapped = plan_segments(info, cuts=cuts, segment_seconds=segment_seconds, max_segments=CHAPTERS_MAX_SEGMENTS)
    if len(uncapped) <= len(segments):
        return None
    return (
        f"segments up to {longest:.1f} s, longer than --segment-seconds {segment_seconds:g}, to stay within "
        f"{FLAT_MAX_SEGMENTS} segments (--hierarchy flat; auto keeps their length and adds chapters)"
    )


def _scan(path: str | os.PathLike[str], info: VideoInfo, opener: Opener) -> tuple[Scan | None, str | None]:
    """(scan, None), or (None, why) when the file will not decode for a scan: the summary then
    goes on with fixed windows and uniform frames (and says so) instead of failing."""
    try:
        return scan_video(path, info=info, opener=opener), None
    except VideoError as exc:
        return None, str(exc)


def segment_video(
    plan: SummaryPlan, item: SegmentPlan, *, max_side: int | None, opener: Opener = open_decord
) -> VideoInput:
    """Decode one segment's frames (and nothing else) as an engine `VideoInput`."""
    return as_video_input(plan, item, segment_frames(plan, item, max_side=max_side, opener=opener))


def segment_frames(plan: SummaryPlan, item: SegmentPlan, *, max_side: int | None, opener: Opener = open_decord) -> Frames:
    """The decoded frames of one segment (a damaged one replaced by its nearest: `Frames.replaced`)."""
    return read_frames(plan.info.path, item.frames.indices, max_side=max_side, info=plan.info, opener=opener)


def as_video_input(plan: SummaryPlan, item: SegmentPlan, frames: Frames) -> VideoInput:
    info, segment = plan.info, item.segment
    return VideoInput(
        frames=frames.pixels,
        timestamps=frames.timestamps,
        fps=info.fps,
        indices=tuple(info.nominal_index(i) for i in frames.indices),  # index / fps is the real time
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
    damaged: str | None = None
    """Frames of the segment that would not decode and what stood in for them (`damage_note`)."""


@dataclass(frozen=True)
class ChapterDone:
    """One chapter summarised from its segments' descriptions (chaptered plans only)."""

    chapter: Chapter
    text: str
    result: GenerationResult


@dataclass(frozen=True)
class SummaryDone:
    """The overall summary, complete (its tokens came before as `TokenEvent`s)."""

    text: str
    result: GenerationResult


def summary_is_description(plan: SummaryPlan, prompts: SummaryPrompts) -> bool:
    """True when a summary call would only restate the one segment's description: one
    segment, no chapters, and vlmcli's own instructions (no --prompt, --summary-prompt or
    segment constraint). The description then is the summary, without a second call."""
    return (
        len(plan.segments) == 1 and not plan.chapters and prompts.prompt is None
        and prompts.summary_prompt is None and prompts.segment_constraint is None
    )


def segment_request(
    video: VideoInput,
    segment: Segment,
    *,
    prompts: SummaryPrompts = SummaryPrompts(),
    system: str | None = None,
) -> Request:
    from vlmcli.structured.prompt import with_instruction

    prompt = segment_prompt(prompts, start_s=segment.start_s, end_s=segment.end_s)
    constraint = prompts.segment_constraint
    prompt = with_instruction(prompt, constraint, state=prompts.state_constraint)
    return Request(prompt=prompt, videos=(video,), system=system, constraint=constraint)


def _lines(described: Sequence[SegmentDone | ChapterDone]) -> list[Line]:
    return [
        (d.chapter.start_s, d.chapter.end_s, d.text) if isinstance(d, ChapterDone)
        else (d.segment.start_s, d.segment.end_s, d.text)
        for d in described
    ]


def _summary_over(info: VideoInfo, lines: Sequence[Line], *, prompts: SummaryPrompts, system: str | None) -> Request:
    return Request(prompt=summary_prompt(prompts, duration_s=info.duration_s, items=lines), system=system)


def _part_over(span: Line, lines: Sequence[Line], *, prompts: SummaryPrompts, system: str | None) -> Request:
    """The chapter prompt over `lines`, for the time span `span` covers."""
    return Request(prompt=chapter_prompt(prompts, start_s=span[0], end_s=span[1], items=lines), system=system)


def summarize(
    engine: Any,
    plan: SummaryPlan,
    gen: Any,
    *,
    max_side: int | None,
    prompts: SummaryPrompts = SummaryPrompts(),
    system: str | None = None,
    opener: Opener = open_decord,
) -> Iterator[SegmentDone | ChapterDone | TokenEvent | SummaryDone]:
    """Describe each segment (one engine call each, one segment in memory), summarise each
    chapter when it ends (chaptered plans), then stream the summary."""
    def part_for(span: Line, lines: Sequence[Line]) -> Request:
        return _part_over(span, lines, prompts=prompts, system=system)

    described: list[SegmentDone] = []  # the current chapter's (flat: all) descriptions
    chapters: list[ChapterDone] = []
    ends = {c.last: c for c in plan.chapters}
    for position, item in enumerate(plan.segments):
        frames = segment_frames(plan, item, max_side=max_side, opener=opener)
        damaged = damage_note(frames.replaced)
        request = segment_request(as_video_input(plan, item, frames), item.segment, prompts=prompts, system=system)
        del frames  # the request holds the only reference: freed after this call
        for result in finished(engine.stream([request], gen), on_token=False):
            assert isinstance(result, GenerationResult)
            done = SegmentDone(
                segment=item.segment, frames=item.frames, text=result.text.strip(), result=result, damaged=damaged
            )
            described.append(done)
            yield done
        del request
        chapter = ends.get(position)
        if chapter is not None:
            span = (chapter.start_s, chapter.end_s, "")
            asked = folded(
                engine, gen, _lines(described), request_for=lambda lines, span=span: part_for(span, lines),
                part_for=part_for, on_token=False,
            )
            for result in asked:
                assert isinstance(result, GenerationResult)
                chapters.append(ChapterDone(chapter=chapter, text=result.text.strip(), result=result))
                yield chapters[-1]
            described = []  # this chapter's descriptions are folded into its summary
    if summary_is_description(plan, prompts) and described:
        yield SummaryDone(text=described[0].text, result=described[0].result)
        return
    final = folded(
        engine, gen, _lines(chapters if plan.chapters else described),
        request_for=lambda lines: _summary_over(plan.info, lines, prompts=prompts, system=system),
        part_for=part_for, on_token=True,
    )
    for out in final:
        if isinstance(out, TokenEvent):
            yield out
        else:
            yield SummaryDone(text=out.text.strip(), result=out)
