"""How `vlm video-summarize` ends once its plan is made: `run_plan` prints the plan (--dry-run),
`run_summary` runs the model and renders its events as they come.

Text mode streams: one line per segment as it is described, one per chapter as it is
summarised, then the overall summary token by token. --json prints one record at the end,
or, when interrupted, the segments and chapters finished so far. The command itself
(`video_summarize.py`) parses the flags, checks the model and makes the plan
(`vlmcli.summaries`); the records' shared fields come from `_summary_output`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vlmcli.commands import _runtime
from vlmcli.commands import _summary_output as out_
from vlmcli.commands._generate import load_with_status
from vlmcli.commands._json_names import json_line
from vlmcli.commands._terminal import shown
from vlmcli.commands.options import CommonOptions
from vlmcli.commands.video_options import VIDEO_MAX_SIDE

if TYPE_CHECKING:
    from vlmcli.engine.config import EngineConfig, GenerationConfig
    from vlmcli.summaries.progress import SummaryProgress
    from vlmcli.summaries.summarize import SummaryPlan, SummaryPrompts


def frames_text(count: int) -> str:
    """"1 frame", "2 frames", "1,200 frames"."""
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
    """--dry-run: every segment really preprocessed (one at a time) by the model's processor,
    and fitted to the context as the run fits it (`engine.fit.prepare_batch`: the same
    overflow line naming the flags that help, `--truncate` lowering the resolution)."""
    from vlmcli.engine.fit import prepare_batch
    from vlmcli.summaries.summarize import clock, segment_request, segment_video

    adapter = _runtime.load_planner(config).adapter
    segments, total = [], 0
    for item in plan.segments:
        video = segment_video(plan, item, max_side=VIDEO_MAX_SIDE)
        request = segment_request(video, item.segment, prompts=prompts)
        prepared = prepare_batch(adapter, [request], truncate=config.truncate, answer_tokens=max_tokens).requests[0]
        prompt_tokens = int(prepared.input_ids.shape[0])
        total += prepared.visual_tokens
        seg = item.segment
        segments.append(out_.segment_record(seg, item.frames) | {
            "visual_tokens": prepared.visual_tokens, "prompt_tokens": prompt_tokens,
        })
        if not as_json:
            sys.stdout.write(
                f"{out_.span(seg.start_s, seg.end_s)} {seg.reason}: {frames_text(len(item.frames))}, "
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
            f"{frames_text(sum(len(s['frames']) for s in segments))}, {total} visual tokens (+ text-only: {calls}); "
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
