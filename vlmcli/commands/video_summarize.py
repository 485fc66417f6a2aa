"""`vlm video-summarize VIDEO`: describe a video segment by segment, then summarise it.

Segments are scenes (hard cuts found by a thumbnail scan), long scenes split into windows
of at most --segment-seconds. Each segment is decoded, described and dropped before the
next one, so memory does not grow with the video's length. Text output streams: one line
per segment as it finishes, then the overall summary token by token. --json prints one
object at the end; --dry-run prints the plan (segments, frames, visual tokens) from the
model's config and processor without loading its weights.

Long videos (more than 40 segments with --hierarchy auto, or always with chapters) get a
second level: the segments are split into chapters of at most --chapter-segments (as equal
as possible), each summarised as soon as its last segment is described, and the overall
summary is written from the chapters, so no prompt grows with the video.

--prompt replaces the question asked of each segment, --summary-prompt the instruction of
the chapter and overall summaries; both are recorded in --json. Warnings (one line each on
stderr, also listed in --json `warnings`): scene detection degraded or abandoned, and any
description or summary that came back empty (with its finish reason).
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from vlmcli.commands import _runtime
from vlmcli.commands import _summary_output as out_
from vlmcli.commands._terminal import shown
from vlmcli.commands._errors import error_boundary
from vlmcli.commands._generate import load_with_status
from vlmcli.commands._help_format import examples
from vlmcli.commands._json_names import json_line
from vlmcli.commands.options import (
    CommonOptions,
    StructuredOptions,
    note_unused_sampling,
    with_option_group,
    with_structured_options,
)
from vlmcli.commands.video_options import VIDEO_MAX_SIDE, VideoOptions
from vlmcli.errors import ConfigError, InputError

if TYPE_CHECKING:
    from vlmcli.engine.config import EngineConfig, GenerationConfig
    from vlmcli.summaries.progress import SummaryProgress
    from vlmcli.summaries.summarize import SummaryPlan, SummaryPrompts

FRAMES_PER_SEGMENT = 8  # default --max-frames here: a segment is a few seconds to a minute
SUMMARY_CACHE_ENTRIES = 2  # segments are never asked about twice: keep the feature cache small

EPILOG = examples(
    "vlm video-summarize talk.mp4",
    "vlm video-summarize --segment-seconds 60 --frames 12 --temporal-pool 2 \\",
    "  match.mkv",
    "vlm video-summarize --prompt 'Who is speaking, and about what?' \\",
    "  --summary-prompt 'List the speakers.' panel.mp4",
    "vlm video-summarize --json --dry-run trailer.mp4",
    "vlm video-summarize --hierarchy chapters --chapter-segments 6 lecture.mp4",
)


def _frames(count: int) -> str:
    return f"{count:,} frame{'' if count == 1 else 's'}"


def _base_record(plan: "SummaryPlan", *, source: str, model: str, prompts: "SummaryPrompts") -> dict[str, Any]:
    """The fields the dry run and the real run share, with the video's `decoder` (the backend
    that read the file) and `video_start_s` (frame 0 on the file's timeline) beside its rate,
    as `ask --json` and `describe --json` give them for each video."""
    video = {"decoder": plan.info.decoder, "video_start_s": round(plan.info.start_s, 3)}
    head: dict[str, Any] = {}
    for name, value in out_.base_record(plan, source=source, model=model, prompts=prompts).items():
        head[name] = value
        if name == "variable_frame_rate":
            head |= video
    return head | video


def run_plan(
    plan: "SummaryPlan", source: str, config: "EngineConfig", *,
    prompts: "SummaryPrompts", warnings: list[str], as_json: bool, max_tokens: int,
) -> None:
    """--dry-run: every segment really preprocessed (one at a time) by the model's processor."""
    from vlmcli.engine.generate import check_context
    from vlmcli.summaries.summarize import clock, segment_request, segment_video

    adapter = _runtime.load_planner(config).adapter
    segments, total = [], 0
    for item in plan.segments:
        video = segment_video(plan, item, max_side=VIDEO_MAX_SIDE)
        prepared = adapter.prepare(segment_request(video, item.segment, prompts=prompts))
        prompt_tokens = int(prepared.input_ids.shape[0])
        check_context(prompt_tokens + max_tokens, adapter.config)
        total += prepared.visual_tokens
        seg = item.segment
        segments.append(out_.segment_record(seg, item.frames) | {
            "visual_tokens": prepared.visual_tokens, "prompt_tokens": prompt_tokens,
        })
        if not as_json:
            sys.stdout.write(
                f"{out_.span(seg.start_s, seg.end_s)} {seg.reason}: {_frames(len(item.frames))}, "
                f"{prepared.visual_tokens} visual tokens, {prompt_tokens} prompt tokens\n"
            )
            sys.stdout.flush()
    if as_json:
        record = _base_record(plan, source=source, model=config.model, prompts=prompts) | {
            "segments": segments, "chapters": [out_.chapter_record(c) for c in plan.chapters],
            "visual_tokens": total, "warnings": warnings,
        }
        sys.stdout.write(json_line(record) + "\n")
    else:
        from vlmcli.summaries.summarize import summary_is_description

        calls = f"{len(plan.chapters)} chapter calls + one summary call" if plan.chapters else "one summary call"
        if summary_is_description(plan, prompts):
            calls = "none, the one segment's description is the summary"
        shown(sys.stdout).write(
            f"{source}: {clock(plan.info.duration_s)} at {plan.info.fps:.3g} fps{' (variable rate)' if plan.info.variable_rate else ''}, {len(segments)} segment(s), "
            f"{_frames(sum(len(s['frames']) for s in segments))}, {total} visual tokens (+ text-only: {calls}); "
            f"{out_.detection_line(plan)}\n"
        )


def run_summary(
    plan: "SummaryPlan", source: str, config: "EngineConfig", gen: "GenerationConfig", opts: CommonOptions, *,
    prompts: "SummaryPrompts", warnings: list[str], progress: "SummaryProgress", decided: Callable[[], None],
) -> None:
    """The real run. Interrupted (Ctrl-C, SIGTERM) with --json, it still prints one record: the
    segments and chapters finished so far, `"interrupted": true`, `summary` null; then the
    KeyboardInterrupt goes on (exit 130). `decided()` is called when the record to print is
    known (`interrupts.interruptible_until_decided`): a signal after it changes nothing."""
    progress.describing(len(plan.segments), video_s=plan.info.duration_s)
    out = sys.stdout
    segments: list[dict[str, Any]] = []
    chapters: list[dict[str, Any]] = []
    try:
        final = _run_events(plan, source, config, gen, opts, prompts=prompts, warnings=warnings,
                            progress=progress, segments=segments, chapters=chapters)
    except KeyboardInterrupt:
        decided()  # exit 130: a second Ctrl-C must not cut the record in half
        if opts.json:  # what is done is kept: text mode already printed it line by line
            record = _base_record(plan, source=source, model=config.model, prompts=prompts) | {
                "segments": segments, "chapters": chapters, "summary": None, "finish_reason": None,
                "visual_tokens": sum(s["visual_tokens"] for s in segments), "warnings": warnings,
                "interrupted": True,
            }
            out.write(json_line(record) + "\n")
            out.flush()
        raise
    decided()
    if final is not None:
        out.write(json_line(final) + "\n")
        out.flush()


def _run_events(
    plan: "SummaryPlan", source: str, config: "EngineConfig", gen: "GenerationConfig", opts: CommonOptions, *,
    prompts: "SummaryPrompts", warnings: list[str], progress: "SummaryProgress",
    segments: list[dict[str, Any]], chapters: list[dict[str, Any]],
) -> dict[str, Any] | None:
    """Load the engine and walk the summary's events, appending each finished segment and
    chapter record to `segments` / `chapters` as it comes (so an interrupt keeps them).
    Returns the --json record (None in text mode, which prints as it goes)."""
    from vlmcli.structured.verdict import constraint_note
    from vlmcli.engine.events import TokenEvent
    from vlmcli.summaries.summarize import ChapterDone, SegmentDone, SummaryDone, summarize, summary_is_description

    engine = load_with_status(config)
    out = shown(sys.stdout)  # model text on a terminal: shown, not obeyed (`_terminal`)
    final: dict[str, Any] | None = None
    visual_tokens = 0
    started = False  # "Summary: " written (at the first token with visible text)
    reused = summary_is_description(plan, prompts)  # one segment: no summary call
    for event in summarize(engine, plan, gen, max_side=VIDEO_MAX_SIDE, prompts=prompts, system=opts.system):
        if isinstance(event, SegmentDone):
            seg, result = event.segment, event.result
            progress.described(seg.index + 1, upto_s=seg.end_s)
            if seg.index + 1 == len(plan.segments) and not plan.chapters and not reused:
                progress.summarising(f"{len(plan.segments)} segment descriptions")
            visual_tokens += result.visual_tokens
            segments.append(
                out_.segment_record(seg, event.frames) | {"visual_tokens": result.visual_tokens}
                | out_.result_fields(event.text, result)
            )
            if event.damaged:
                out_.warn(warnings, f"segment {seg.index + 1} {out_.span(seg.start_s, seg.end_s)}: {event.damaged}")
            if (cut := constraint_note(result, field="parsed")) is not None:  # a constrained answer that is not valid
                out_.warn(warnings, f"segment {seg.index + 1} {out_.span(seg.start_s, seg.end_s)}: {cut}")
            if not event.text:
                where = f"the description of segment {seg.index + 1} {out_.span(seg.start_s, seg.end_s)}"
                out_.warn(warnings, out_.empty_warning(where, result))
            if not opts.json:
                out.write(f"{out_.span(seg.start_s, seg.end_s)} {out_.text_or_marker(event.text)}\n")
                out.flush()
        elif isinstance(event, ChapterDone):
            c = event.chapter
            if c.index + 1 == len(plan.chapters):
                progress.summarising(f"{len(plan.chapters)} chapter summaries")
            chapters.append(out_.chapter_record(c) | out_.result_fields(event.text, event.result))
            if not event.text:
                where = f"the summary of chapter {c.index + 1} {out_.span(c.start_s, c.end_s)}"
                out_.warn(warnings, out_.empty_warning(where, event.result))
            if not opts.json:
                line = f"== Chapter {c.index + 1} {out_.span(c.start_s, c.end_s)} {out_.text_or_marker(event.text)}"
                out.write(line + "\n")
                out.flush()
        elif isinstance(event, TokenEvent) and not opts.json and not opts.no_stream:
            text = event.text if started else event.text.lstrip()
            if text and not started:
                out.write("\nSummary: ")
                started = True
            if text:
                out.write(text)
                out.flush()
        elif isinstance(event, SummaryDone):
            if not event.text:
                out_.warn(warnings, out_.empty_warning("the summary", event.result))
            if opts.json:  # written by the caller, once the run can no longer be interrupted half-way
                final = _base_record(plan, source=source, model=engine.model_id, prompts=prompts) | {
                    "segments": segments, "chapters": chapters,
                    "summary": event.text, "finish_reason": out_.finish_reason(event.result),
                    "visual_tokens": visual_tokens, "warnings": warnings,
                }
            elif started:
                out.write("\n")
            elif event.text:
                out.write(f"\nSummary: {event.text}\n")
            out.flush()
    return final


OPTION_HELP = {
    "dry_run": "Print the plan (segments, their frames, visual and prompt tokens) from the model's config and "
    "processor, and stop; no weights are loaded.",
    "no_stream": "Print the summary only when complete, not token by token (segment lines print as each ends).",
    "json": "Print one JSON object on stdout at the end (its fields: above), instead of the lines.",
}
VIDEO_HELP = {
    "frames": "Sample exactly N frames of each segment.",
    "max_frames": "Most frames per segment. [default: 8]",
}


@with_structured_options
@with_option_group(VideoOptions, "video", helps=VIDEO_HELP)
@with_option_group(CommonOptions, "opts", helps=OPTION_HELP)
def video_summarize(
    video_path: Annotated[str, typer.Argument(metavar="VIDEO", help="The video file.", show_default=False)],
    opts: CommonOptions,
    video: VideoOptions,
    structured: StructuredOptions,
    segment_seconds: Annotated[
        float, typer.Option(min=1.0, help="Longest segment in seconds; longer scenes are split into windows.")
    ] = 30.0,
    scenes: Annotated[
        bool, typer.Option("--scenes/--no-scenes", help="Cut segments at detected scene changes (else fixed windows).")
    ] = True,
    hierarchy: Annotated[
        str,
        typer.Option(
            help="auto: chapters above 40 segments; flat: one summary over at most 40 segments (long videos get "
            "longer windows and merged scenes, warned on stderr); chapters: segments -> chapter summaries -> summary."
        ),
    ] = "auto",
    chapter_segments: Annotated[
        int,
        typer.Option(
            min=2, help="Most segments per chapter (--hierarchy chapters/auto); chapters are split as evenly as "
            "possible, e.g. 45 segments make 5 chapters of 9."
        ),
    ] = 10,
    prompt: Annotated[
        Optional[str],
        typer.Option(
            help="Question or instruction asked of each segment's frames (after its time range). "
            "[default: describe what happens in one or two sentences]",
            show_default=False,
        ),
    ] = None,
    summary_prompt: Annotated[
        Optional[str],
        typer.Option(
            help="Instruction for the chapter summaries and the overall summary, asked over the segment lines. "
            "[default: a short summary of the whole video]",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr (warnings still go there).")] = False,
    log_every: Annotated[
        float,
        typer.Option(
            "--log-every", min=0.01, metavar="SECONDS",
            help="When stderr is not a terminal (a log file): one progress line this often.",
        ),
    ] = 30.0,
) -> None:
    """Summarise a video: one description per segment, then an overall summary.

    With --json, one object: video, model, duration_s, fps, variable_frame_rate (fps is
    then an average; times are the frames' own), decoder (what read the file),
    video_start_s (frame 0 on the file's timeline), frames [{index, t}],
    hierarchy ("flat" or "chapters"), prompt, chapter_prompt, summary_prompt (the
    instructions used), detection {requested, method, cuts, scenes, cut_frames, degraded},
    segments [{index, start_s, end_s, reason, frames [{index, time_s}], visual_tokens,
    summary, finish_reason, prompt_tokens, completion_tokens}], chapters [{start_s, end_s,
    segments: [first, last], summary, finish_reason, ...}] (empty when flat), summary,
    finish_reason, visual_tokens, warnings. --dry-run --json has the same plan fields.

    --schema/--choice/--regex/--json-mode constrain each segment's answer (segments in --json
    gain valid and parsed); the chapter and overall summaries stay free text.

    Warnings (stderr, and --json warnings): scene detection degraded or failed, or scenes
    merged by --hierarchy flat; an empty description or summary, with its finish reason.
    Details: docs/video-summarize.md.
    """
    with error_boundary(debug=opts.debug):
        from vlmcli.interrupts import interruptible_until_decided
        from vlmcli.commands._inputs import refuse_still_picture
        from vlmcli.inputs.item_address import local_file
        from vlmcli.inputs.patterns import single_match
        from vlmcli.media.names import display_name
        from vlmcli.summaries.progress import make_summary_progress
        from vlmcli.summaries.summarize import Hierarchy, SummaryPrompts, clock, plan_summary
        from vlmcli.video.decode import probe
        from vlmcli.video.decode_pyav import streams_note

        _check_local(video_path)  # `-`, a URL (whose `?` would read as a pattern), a file:// address
        video_path = single_match(video_path, command="video-summarize")  # "*.mp4" quoted, or from cmd.exe
        settings = opts.settings()
        video.check()
        answer = structured.answer(settings, command="video-summarize")
        prompts = SummaryPrompts(
            prompt=prompt, summary_prompt=summary_prompt, segment_constraint=answer.constraint,
            state_constraint=answer.state,
        )
        shape = Hierarchy.parse(hierarchy)
        if not math.isfinite(segment_seconds):  # inf passed typer's min=1; the planner took it for a bug
            raise ConfigError(f"--segment-seconds must be a number of seconds, not {segment_seconds}.")
        config = dataclasses.replace(
            video.apply(opts.engine_config(settings)), feature_cache_entries=SUMMARY_CACHE_ENTRIES
        )
        gen = opts.generation_config(settings, note=False)
        # a typo in -m, or a GPU this machine lacks: one line now, not after scanning an hour of video
        _runtime.check_model(config, device_asked=opts.device_asked(settings))
        note_unused_sampling(settings)
        progress = make_summary_progress(
            quiet=quiet, segments_on_stdout=not opts.json and sys.stdout.isatty(), every=log_every
        )
        try:
            # SIGTERM ends the run as Ctrl-C does, until the outcome is printed; `<shard>::<key>`: the
            # item's bytes, in a temporary file
            with interruptible_until_decided() as decided, local_file(video_path) as local:
                refuse_still_picture(video_path, local)
                info = probe(local)  # a bad file is one error line before any progress line
                what = f"{display_name(video_path)} ({clock(info.duration_s)}, {_frames(info.frame_count)})"
                progress.planning(f"Scanning {what} for scene cuts" if scenes else f"Planning {what}")
                options = video.sampling_options(default_max_frames=FRAMES_PER_SEGMENT)
                plan = plan_summary(
                    local,
                    method=video.method(),
                    options=options,
                    segment_seconds=segment_seconds,
                    scenes=scenes,
                    hierarchy=shape,
                    chapter_segments=chapter_segments,
                    info=info,
                )
                progress.planned(out_.plan_line(plan))
                warnings: list[str] = []
                out_.warn(warnings, plan.detection.warning() if plan.detection is not None else None)
                out_.warn(warnings, plan.stretched)
                out_.warn(warnings, plan.info.start_note())  # times are on the file's timeline: say why they start late
                out_.warn(warnings, streams_note(local, shown_as=video_path))  # an MKV with two angles: which is read
                fewest = min((len(p.frames.frames) for p in plan.segments), default=0)
                out_.warn(warnings, options.reduced_note(fewest, holds="a segment" if len(plan.segments) > 1 else "the video"))
                if opts.dry_run:
                    run_plan(plan, video_path, config, prompts=prompts, warnings=warnings, as_json=opts.json,
                             max_tokens=gen.max_tokens)
                else:
                    run_summary(plan, video_path, config, gen, opts, prompts=prompts, warnings=warnings,
                                progress=progress, decided=decided)
                decided()  # the record is out: a late Ctrl-C or SIGTERM no longer makes it exit 130
                progress.finished()
        finally:
            progress.close()


def _check_local(source: str) -> None:
    """What describe says of `-` and of an address (`vlmcli.inputs.addresses`), not "Video file not found"."""
    from vlmcli.inputs.addresses import STDIN_VIDEO, address_hint
    from vlmcli.media.names import display_name
    from vlmcli.media.sources import STDIN

    if source == STDIN:
        raise InputError(STDIN_VIDEO)
    hint = address_hint(source, fetch="fetch it first (curl -sLo clip.mp4 URL), then pass the file.")
    if hint and not os.path.lexists(source):
        raise InputError(f"Video file not found: {display_name(source)}{hint}")


def register(app: typer.Typer) -> None:
    app.command("video-summarize", epilog=EPILOG, no_args_is_help=True)(video_summarize)
