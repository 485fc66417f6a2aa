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

This module holds the flags and makes the plan; printing the plan and running it, with
the rendering of each event: `_video_summary_run.py`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from typing import Annotated, Optional

import typer

from vlmcli.commands import _runtime
from vlmcli.commands import _summary_output as out_
from vlmcli.commands._errors import error_boundary
from vlmcli.commands._help_format import examples
from vlmcli.commands._video_summary_run import frames_text, run_plan, run_summary
from vlmcli.commands.option_groups import with_option_group
from vlmcli.commands.options import CommonOptions, note_unused_sampling
from vlmcli.commands.structured_options import StructuredOptions, with_structured_options
from vlmcli.commands.video_options import VideoOptions
from vlmcli.errors import ConfigError, InputError

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
        from vlmcli.video.reading_notes import file_notes

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
                what = f"{display_name(video_path)} ({clock(info.duration_s)}, {frames_text(info.frame_count)})"
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
                for note in file_notes(local, shown_as=video_path):  # which angle of two is read, a joined timeline, ...
                    out_.warn(warnings, note)
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
