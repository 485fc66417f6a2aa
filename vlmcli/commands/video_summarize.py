"""`vlm video-summarize VIDEO`: describe a video segment by segment, then summarise it.

Segments are scenes (hard cuts found by a thumbnail scan), long scenes split into windows
of at most --segment-seconds. Each segment is decoded, described and dropped before the
next one, so memory does not grow with the video's length. Text output streams: one line
per segment as it finishes, then the overall summary token by token. --json prints one
object at the end; --dry-run prints the plan (segments, frames, visual tokens) from the
model's config and processor without loading its weights.

Long videos (more than 40 segments with --hierarchy auto, or always with chapters) get a
second level: each run of ~10 segments is summarised into a chapter as soon as it ends,
and the overall summary is written from the chapters, so no prompt grows with the video.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vlmcli.commands import _runtime
from vlmcli.commands._errors import error_boundary
from vlmcli.commands._generate import load_with_status
from vlmcli.commands.options import CommonOptions, with_common_options
from vlmcli.commands.video_options import VIDEO_MAX_SIDE, VideoOptions, with_video_options

if TYPE_CHECKING:
    from vlmcli.engine.config import EngineConfig, GenerationConfig
    from vlmcli.video.summarize import ChapterDone, Chapter, SegmentDone, SummaryPlan

FRAMES_PER_SEGMENT = 8  # default --max-frames here: a segment is a few seconds to a minute
SUMMARY_CACHE_ENTRIES = 2  # segments are never asked about twice: keep the feature cache small

EPILOG = (
    "Examples:\n\n"
    "  vlm video-summarize talk.mp4\n\n"
    "  vlm video-summarize --segment-seconds 60 --frames 12 --temporal-pool 2 match.mkv\n\n"
    "  vlm video-summarize --json --dry-run trailer.mp4\n\n"
    "  vlm video-summarize --hierarchy chapters --chapter-segments 6 lecture.mp4"
)


def frame_list(plan: "SummaryPlan") -> list[dict[str, Any]]:
    return [{"index": f.index, "t": round(f.t, 3)} for item in plan.segments for f in item.frames.frames]


def base_record(plan: "SummaryPlan", source: str, model: str) -> dict[str, Any]:
    return {
        "video": source,
        "model": model,
        "duration_s": round(plan.info.duration_s, 3),
        "fps": round(plan.info.fps, 3),
        "frames": frame_list(plan),
        "hierarchy": "chapters" if plan.chapters else "flat",
    }


def chapter_record(chapter: "Chapter", summary: str | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "start_s": round(chapter.start_s, 3), "end_s": round(chapter.end_s, 3),
        "segments": [chapter.first, chapter.last],
    }
    return record if summary is None else record | {"summary": summary}


def chapter_line(done: "ChapterDone") -> str:
    from vlmcli.video.summarize import clock

    c = done.chapter
    return f"== Chapter {c.index + 1} [{clock(c.start_s)}-{clock(c.end_s)}] {done.text}"


def segment_line(done: "SegmentDone") -> str:
    from vlmcli.video.summarize import clock

    return f"[{clock(done.segment.start_s)}-{clock(done.segment.end_s)}] {done.text}"


def run_plan(plan: "SummaryPlan", source: str, config: "EngineConfig", *, as_json: bool, max_tokens: int) -> None:
    """--dry-run: every segment really preprocessed (one at a time) by the model's processor."""
    from vlmcli.engine.generate import check_context
    from vlmcli.video.summarize import clock, segment_request, segment_video

    adapter = _runtime.load_planner(config).adapter
    segments, total = [], 0
    for item in plan.segments:
        prepared = adapter.prepare(segment_request(segment_video(plan, item, max_side=VIDEO_MAX_SIDE), item.segment))
        prompt_tokens = int(prepared.input_ids.shape[0])
        check_context(prompt_tokens + max_tokens, adapter.config)
        total += prepared.visual_tokens
        seg = item.segment
        segments.append({
            "start_s": round(seg.start_s, 3), "end_s": round(seg.end_s, 3), "reason": seg.reason,
            "frames": len(item.frames), "visual_tokens": prepared.visual_tokens, "prompt_tokens": prompt_tokens,
        })
        if not as_json:
            sys.stdout.write(
                f"[{clock(seg.start_s)}-{clock(seg.end_s)}] {seg.reason}: {len(item.frames)} frames, "
                f"{prepared.visual_tokens} visual tokens, {prompt_tokens} prompt tokens\n"
            )
            sys.stdout.flush()
    if as_json:
        record = base_record(plan, source, config.model) | {
            "segments": segments, "chapters": [chapter_record(c) for c in plan.chapters], "visual_tokens": total,
        }
        sys.stdout.write(json.dumps(record) + "\n")
    else:
        calls = f"{len(plan.chapters)} chapter calls + one summary call" if plan.chapters else "one summary call"
        sys.stdout.write(
            f"{source}: {clock(plan.info.duration_s)} at {plan.info.fps:.3g} fps, {len(segments)} segment(s), "
            f"{sum(s['frames'] for s in segments)} frames, {total} visual tokens (+ text-only: {calls})\n"
        )


def run_summary(
    plan: "SummaryPlan", source: str, config: "EngineConfig", gen: "GenerationConfig", opts: CommonOptions
) -> None:
    from vlmcli.engine.events import TokenEvent
    from vlmcli.video.summarize import ChapterDone, SegmentDone, SummaryDone, summarize

    engine = load_with_status(config)
    out = sys.stdout
    segments: list[dict[str, Any]] = []
    chapters: list[dict[str, Any]] = []
    visual_tokens = 0
    started = False
    for event in summarize(engine, plan, gen, max_side=VIDEO_MAX_SIDE, system=opts.system):
        if isinstance(event, SegmentDone):
            visual_tokens += event.result.visual_tokens
            seg = event.segment
            segments.append({"start_s": round(seg.start_s, 3), "end_s": round(seg.end_s, 3), "summary": event.text})
            if not opts.json:
                out.write(segment_line(event) + "\n")
                out.flush()
        elif isinstance(event, ChapterDone):
            chapters.append(chapter_record(event.chapter, event.text))
            if not opts.json:
                out.write(chapter_line(event) + "\n")
                out.flush()
        elif isinstance(event, TokenEvent) and not opts.json and not opts.no_stream:
            if not started:
                out.write("\nSummary: ")
                started = True
            out.write(event.text)
            out.flush()
        elif isinstance(event, SummaryDone):
            if opts.json:
                record = base_record(plan, source, engine.model_id) | {
                    "segments": segments, "chapters": chapters, "summary": event.text,
                    "visual_tokens": visual_tokens,
                }
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            elif started:
                out.write("\n")
            else:
                out.write(f"\nSummary: {event.text}\n")
            out.flush()


@with_video_options
@with_common_options
def video_summarize(
    video_path: Annotated[str, typer.Argument(metavar="VIDEO", help="The video file.", show_default=False)],
    opts: CommonOptions,
    video: VideoOptions,
    segment_seconds: Annotated[
        float, typer.Option(min=1.0, help="Longest segment in seconds; longer scenes are split into windows.")
    ] = 30.0,
    scenes: Annotated[
        bool, typer.Option("--scenes/--no-scenes", help="Cut segments at detected scene changes (else fixed windows).")
    ] = True,
    hierarchy: Annotated[
        str,
        typer.Option(
            help="auto: chapters above 40 segments; flat: one summary over all segments (long videos get longer "
            "segments); chapters: segments -> chapter summaries -> summary."
        ),
    ] = "auto",
    chapter_segments: Annotated[
        int, typer.Option(min=2, help="Segments per chapter (--hierarchy chapters/auto).")
    ] = 10,
) -> None:
    """Summarise a video: one description per segment, then an overall summary.

    With --json, one object: video, model, duration_s, fps, frames [{index, t}],
    hierarchy ("flat" or "chapters"), segments [{start_s, end_s, summary}],
    chapters [{start_s, end_s, segments: [first, last], summary}] (empty when flat),
    summary, visual_tokens.
    """
    with error_boundary(debug=opts.debug):
        from vlmcli.video.summarize import Hierarchy, plan_summary

        settings = opts.settings()
        video.check()
        shape = Hierarchy.parse(hierarchy)
        config = dataclasses.replace(
            video.apply(opts.engine_config(settings)), feature_cache_entries=SUMMARY_CACHE_ENTRIES
        )
        gen = opts.generation_config(settings)
        plan = plan_summary(
            video_path,
            method=video.method(),
            options=video.sampling_options(default_max_frames=FRAMES_PER_SEGMENT),
            segment_seconds=segment_seconds,
            scenes=scenes,
            hierarchy=shape,
            chapter_segments=chapter_segments,
        )
        if opts.dry_run:
            run_plan(plan, video_path, config, as_json=opts.json, max_tokens=gen.max_tokens)
        else:
            run_summary(plan, video_path, config, gen, opts)


def register(app: typer.Typer) -> None:
    app.command("video-summarize", epilog=EPILOG, no_args_is_help=True)(video_summarize)
