"""What `vlm video-summarize` asks the model: a fixed context around an instruction.

A summary is built from three kinds of request, each a context vlmcli writes and an
instruction the user may replace:

1. segment (one per segment, with its frames): "These frames are from A to B of a video."
   then the segment instruction (`--prompt`; default: describe what happens);
2. chapter (chaptered plans, text only): the chapter's "[start-end] text" segment lines,
   then the summary instruction (`--summary-prompt`; default: summarise this stretch);
3. summary (text only): the segment lines (flat) or the chapter lines, then the summary
   instruction (`--summary-prompt`; default: a short summary of the whole video).

The user's text is only ever appended, never `str.format`ted, so braces in it are safe.
When `--prompt` replaces the segment instruction the lines are answers to it rather than
descriptions, and the chapter and summary contexts say which question they answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vlmcli.errors import ConfigError
from vlmcli.structured.spec import Constraint

SEGMENT_CONTEXT = "These frames are from {start} to {end} of a video. "
SEGMENT_AT = "These frames are at {start} of a video. "
SEGMENT_INSTRUCTION = "Describe what happens in this part in one or two sentences."
CHAPTER_CONTEXT = "Here are {lines} consecutive parts of a video, from {start} to {end}, in order:\n{parts}\n\n"
CHAPTER_INSTRUCTION = "Summarise this stretch of the video in two or three sentences."
SUMMARY_CONTEXT = "Here are {lines} consecutive parts of a {duration} video, in order:\n{parts}\n\n"
SUMMARY_INSTRUCTION = "Write a short summary of the whole video."
DESCRIPTIONS = "descriptions of"
ANSWERS = 'answers to "{question}" for'
EMPTY_LINE = "(no description)"


def clock(seconds: float) -> str:
    """0:07.5 / 12:03.0 / 1:02:03.0: minutes (and hours) with one decimal of seconds."""
    minutes, secs = divmod(max(0.0, seconds), 60.0)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:04.1f}" if hours else f"{minutes}:{secs:04.1f}"


@dataclass(frozen=True)
class SummaryPrompts:
    """The user's instructions (None: vlmcli's default for that request).

    prompt: asked of every segment's frames (`--prompt`), e.g. "Who is speaking?".
    summary_prompt: asked over the segment or chapter lines, for every chapter and for the
        overall summary (`--summary-prompt`).
    """

    prompt: str | None = None
    summary_prompt: str | None = None
    segment_constraint: Constraint | None = None
    """What each segment's answer must look like (--schema/--choice/--regex/--json-mode); the
    chapter and overall summaries stay free text, written from those answers."""
    state_constraint: bool = True
    """State the segment constraint in the segment prompt (off: --no-schema-prompt)."""

    def __post_init__(self) -> None:
        for flag, value in (("--prompt", self.prompt), ("--summary-prompt", self.summary_prompt)):
            if value is not None and not value.strip():
                raise ConfigError(f"{flag} is empty: give the instruction text, or leave the flag out.")

    @property
    def segment(self) -> str:
        return self.prompt.strip() if self.prompt is not None else SEGMENT_INSTRUCTION

    @property
    def chapter(self) -> str:
        return self.summary_prompt.strip() if self.summary_prompt is not None else CHAPTER_INSTRUCTION

    @property
    def summary(self) -> str:
        return self.summary_prompt.strip() if self.summary_prompt is not None else SUMMARY_INSTRUCTION

    def to_dict(self) -> dict[str, Any]:
        """The effective instructions, as `--json` records them: the segment's as sent, with the
        line that states its constraint (--schema/--choice/...; not with --no-schema-prompt)."""
        from vlmcli.structured.prompt import with_instruction

        segment = with_instruction(self.segment, self.segment_constraint, state=self.state_constraint)
        return {"prompt": segment, "chapter_prompt": self.chapter, "summary_prompt": self.summary}

    def line_label(self) -> str:
        """What the segment lines are: 'descriptions of', or 'answers to "Q" for' with --prompt."""
        return DESCRIPTIONS if self.prompt is None else ANSWERS.format(question=self.segment)


def format_lines(items: Sequence[tuple[float, float, str]]) -> str:
    """One "[start-end] text" line per (start_s, end_s, text); empty text is marked, not blank."""
    return "\n".join(f"[{clock(a)}-{clock(b)}] {text.strip() or EMPTY_LINE}" for a, b, text in items)


def segment_prompt(prompts: SummaryPrompts, *, start_s: float, end_s: float) -> str:
    start, end = clock(start_s), clock(end_s)
    if start == end:  # a one-frame video: "from 0:00.0 to 0:00.0" reads as nothing
        return SEGMENT_AT.format(start=start) + prompts.segment
    return SEGMENT_CONTEXT.format(start=start, end=end) + prompts.segment


def chapter_prompt(
    prompts: SummaryPrompts, *, start_s: float, end_s: float, items: Sequence[tuple[float, float, str]]
) -> str:
    context = CHAPTER_CONTEXT.format(
        lines=prompts.line_label(), start=clock(start_s), end=clock(end_s), parts=format_lines(items)
    )
    return context + prompts.chapter


def summary_prompt(prompts: SummaryPrompts, *, duration_s: float, items: Sequence[tuple[float, float, str]]) -> str:
    context = SUMMARY_CONTEXT.format(lines=prompts.line_label(), duration=clock(duration_s), parts=format_lines(items))
    return context + prompts.summary
