"""`vlm ask INPUT... QUESTION`: one question about one or more images and videos, in a single prompt."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Optional

import typer

from vlmcli.commands import _runtime
from vlmcli.commands._document_options import PAGES_OPTION, page_choice, pages_unused
from vlmcli.commands._errors import EXIT_NOT_VALID, error_boundary
from vlmcli.commands._generate import run_requests
from vlmcli.commands._inputs import load_inputs, split_media
from vlmcli.commands._render import Item
from vlmcli.commands._usage import check_no_empty_input
from vlmcli.commands._video_notes import say_video_notes
from vlmcli.commands.options import CommonOptions, StructuredOptions, with_common_options, with_structured_options
from vlmcli.commands.video_options import VideoOptions, with_video_options
from vlmcli.engine.request import Request
from vlmcli.media.document_input import DocumentInput
from vlmcli.errors import ConfigError, InputError
from vlmcli.media.names import display_name
from vlmcli.inputs.patterns import expand_patterns
from vlmcli.media.sources import STDIN

EPILOG = (
    "Examples:\n\n"
    "  vlm ask photo.jpg 'What is in this picture?'\n\n"
    "  vlm ask before.png after.png 'What changed between these two?'\n\n"
    "  vlm ask --sampling keyframe --frames 16 clip.mp4 'What happens in this video?'\n\n"
    "  curl -s https://example.com/cat.jpg | vlm ask - 'What breed is this?'\n\n"
    "  vlm ask --json -m Qwen/Qwen2-VL-2B-Instruct chart.png 'Summarise the chart.'\n\n"
    "  vlm ask photo.jpg 'Is it indoors?' --choice yes --choice no\n\n"
    "  vlm ask --schema '{\"type\": \"object\", \"properties\": {\"count\": {\"type\": \"integer\"}}}' "
    "photo.jpg 'How many people?'"
)


def check_question(question: str) -> str:
    """The question must be text, not an input the user meant to ask about."""
    if question == STDIN or Path(question).is_file():
        raise ConfigError(
            f"The last argument must be the question, but {question!r} is an input; "
            "e.g. vlm ask photo.jpg 'What is in this picture?'."
        )
    if not question.strip():
        raise ConfigError("The question (last argument) is empty.")
    return question


def check_unquoted(sources: Sequence[str], question: str) -> None:
    """Catch a question typed without quotes (`vlm ask photo.jpg What is this`).

    The shell splits it into words, click gives the last one as QUESTION and the others as
    INPUTs. When the trailing INPUTs are plain words that name no file, the error says
    "No such file" as before, and shows the command with the question quoted.
    """
    first = len(sources)
    while first > 0 and _plain_word(sources[first - 1]):
        first -= 1
    if first == len(sources):
        return
    meant = " ".join([*sources[first:], question])
    inputs = " ".join(shlex.quote(s) for s in sources[:first]) or "IMAGE"
    raise InputError(
        f"No such file: {display_name(sources[first])}. If {meant!r} is the question, quote it: "
        f"vlm ask {inputs} {shlex.quote(meant)}"
    )


def _plain_word(arg: str) -> bool:
    """An argument that names nothing on disk and does not look like a path (no folder, no extension)."""
    return arg != STDIN and os.sep not in arg and not Path(arg).suffix and not os.path.lexists(arg)


@with_structured_options
@with_video_options
@with_common_options
def ask(
    opts: CommonOptions,
    video: VideoOptions,
    structured: StructuredOptions,
    inputs: Annotated[
        Optional[list[str]],
        typer.Argument(
            metavar="INPUT", help="Image or video files, or - for image bytes on stdin.", show_default=False
        ),
    ] = None,
    # `...` (required) because it follows the optional INPUTs; click hands it the last argument.
    question: Annotated[str, typer.Argument(metavar="QUESTION", help="The question (the last argument).")] = ...,  # type: ignore[assignment]
    pages: Annotated[Optional[str], PAGES_OPTION] = None,
) -> None:
    """Ask a question about one or more images and videos.

    All inputs go into one prompt: the images in order, then the videos. Only the
    sampled frames of a video are decoded (--sampling, --frames, --fps). The answer
    streams to stdout; progress and errors go to stderr. With --json, one object:
    text, model, inputs, prompt_tokens, visual_tokens, completion_tokens,
    finish_reason, timings, images and videos; each video lists its decoder and its
    sampling: method, the frames the model saw (index, t in seconds, reason), the
    cuts found and scan_degraded; with a structured answer (--schema, --choice, --regex,
    --json-mode) also valid and parsed; an answer that is not valid (cut by --max-tokens, or
    failing the check after generation) is still printed, with a warning, and exits 10. A PDF gives the pictures of its pages (--pages; the
    first 8 by default), each named `<file>#page=N` (needs the pdf extra: pypdfium2). Quote
    the question: ask photo.jpg 'What is this?'.
    """
    with error_boundary(debug=opts.debug):
        check_no_empty_input(inputs or [])
        sources = expand_patterns(inputs or [])  # "*.jpg" quoted, or from cmd.exe/PowerShell
        check_question(question)
        check_unquoted(sources, question)
        settings = opts.settings()
        video.check()
        answer = structured.answer(settings, command="ask")
        constraint = answer.constraint
        # a typo in -m, or a GPU this machine lacks: one line before any picture is decoded
        _runtime.check_model(opts.engine_config(settings), device_asked=opts.device_asked(settings))
        if not sources:  # `vlm ask $IMG 'q'` with IMG unset reads as a question alone: say so
            sys.stderr.write("note: no image or video given; the model answers from the question alone.\n")
        media = load_inputs(
            sources, command="ask", max_pixels=settings.max_image_pixels, video=video, pages=page_choice(pages)
        )
        if pages is not None and not any(isinstance(m, DocumentInput) for m in media):
            pages_unused()
        say_video_notes(media, video.sampling_options(), set())  # which stream, a late first picture, --frames cut
        images, videos = split_media(media)
        request = Request(
            prompt=answer.prompt(question), images=images, videos=videos, system=opts.system,
            constraint=constraint,
        )
        outcome = run_requests([request], [Item(inputs=tuple(sources))], opts, settings, video=video)
        if outcome.not_valid:  # the answer and its warning are printed; scripts see the exit code
            raise typer.Exit(EXIT_NOT_VALID)


def register(app: typer.Typer) -> None:
    app.command("ask", epilog=EPILOG, no_args_is_help=True)(ask)
