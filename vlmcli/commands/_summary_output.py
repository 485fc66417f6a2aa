"""What `vlm video-summarize` prints: its `--json` records, text lines and warnings (pure).

The dry run and the real run describe a segment with the same record (`segment_record`:
index, start_s, end_s, reason, frames [{index, time_s}]), each adding what it measured
(visual and prompt tokens; the real run also the text and its finish reason), so the plan
and the run can be compared field by field. An empty generation is never a blank success:
`empty_warning` is printed on stderr and kept in the record's `warnings`.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vlmcli.engine.events import GenerationResult
    from vlmcli.summaries.segments import Segment
    from vlmcli.summaries.summarize import Chapter, SummaryPlan, SummaryPrompts
    from vlmcli.video.sampling import SamplePlan


def frame_list(plan: "SummaryPlan") -> list[dict[str, Any]]:
    """Every planned frame of the video, in order: [{index, t}] (the top-level `frames`)."""
    return [{"index": f.index, "t": round(f.t, 3)} for item in plan.segments for f in item.frames.frames]


def base_record(plan: "SummaryPlan", *, source: str, model: str, prompts: "SummaryPrompts") -> dict[str, Any]:
    """The fields the dry run and the real run share."""
    return {
        "video": source,
        "model": model,
        "duration_s": round(plan.info.duration_s, 3),
        "fps": round(plan.info.fps, 3),
        "variable_frame_rate": plan.info.variable_rate,  # then fps is an average; times are the frames' own
        "frames": frame_list(plan),
        "hierarchy": "chapters" if plan.chapters else "flat",
        **prompts.to_dict(),
        "detection": plan.detection.to_dict() if plan.detection is not None else None,
    }


def segment_record(segment: "Segment", frames: "SamplePlan") -> dict[str, Any]:
    return {
        "index": segment.index,
        "start_s": round(segment.start_s, 3),
        "end_s": round(segment.end_s, 3),
        "reason": segment.reason,
        "frames": [{"index": f.index, "time_s": round(f.t, 3)} for f in frames.frames],
    }


def result_fields(text: str, result: "GenerationResult", *, key: str = "summary") -> dict[str, Any]:
    """The generated `text` under `key`, with how the generation ended and what it cost."""
    return {
        key: text,
        "finish_reason": finish_reason(result),
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
    } | _structured_fields(result)


def _structured_fields(result: "GenerationResult") -> dict[str, Any]:
    """`valid` and `parsed` of a constrained answer (segments under --schema/--choice/...); none else."""
    if getattr(result, "valid", None) is None:
        return {}
    return {"valid": result.valid, "parsed": result.parsed}


def chapter_record(chapter: "Chapter") -> dict[str, Any]:
    return {
        "start_s": round(chapter.start_s, 3), "end_s": round(chapter.end_s, 3),
        "segments": [chapter.first, chapter.last],
    }


def span(start_s: float, end_s: float) -> str:
    from vlmcli.summaries.summarize import clock

    return f"[{clock(start_s)}-{clock(end_s)}]"


def text_or_marker(text: str) -> str:
    """The text for a stdout line; an empty generation shows as a marker, never a blank."""
    from vlmcli.summaries.prompts import EMPTY_LINE

    return text or EMPTY_LINE


def empty_warning(what: str, result: "GenerationResult") -> str:
    """One line: `what` came back empty, how the generation ended, and what to change."""
    reason = finish_reason(result)
    hint = "raise --max-tokens" if reason == "length" else "try another prompt or model"
    return (
        f"{what} is empty: the model produced no text (finish reason: {reason}, "
        f"{result.completion_tokens} tokens); {hint}."
    )


def warn(warnings: list[str], message: str | None) -> None:
    """Print `warning: message` on stderr now and keep it for `--json` (None: nothing to say)."""
    if message is None:
        return
    warnings.append(message)
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()


def detection_line(plan: "SummaryPlan") -> str:
    """The dry run's closing words on scene detection."""
    report = plan.detection
    if report is None or report.method == "windows":
        reason = "scene detection off" if report is None or not report.requested else "scene detection failed"
        return f"fixed windows ({reason})"
    return f"{report.scenes} scene(s) from {report.cuts} cut(s) found" + (" (degraded)" if report.degraded else "")


def plan_line(plan: "SummaryPlan") -> str:
    """The progress line once the plan is made: what the scan found and what will be described."""
    from vlmcli.summaries.summarize import clock

    count = len(plan.segments)
    chapters = f" in {len(plan.chapters)} chapters" if plan.chapters else ""
    return f"Planned {count} segment{'s' if count != 1 else ''}{chapters} over {clock(plan.info.duration_s)}: {detection_line(plan)}"


def finish_reason(result: "GenerationResult") -> str:
    return str(getattr(result.finish_reason, "value", result.finish_reason))
