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
from vlmcli.commands._help_format import examples
from vlmcli.commands._inputs import load_inputs, naming_refused, say_video_notes, split_media
from vlmcli.commands._render import Item
from vlmcli.commands._usage import check_no_empty_input
from vlmcli.commands.option_groups import with_option_group
from vlmcli.commands.options import INPUT_HELP, CommonOptions
from vlmcli.commands.structured_options import StructuredOptions, with_structured_options
from vlmcli.commands.video_options import VideoOptions
from vlmcli.engine.request import Request
from vlmcli.media.document_input import DocumentInput
from vlmcli.errors import ConfigError, InputError, VlmError
from vlmcli.media.names import display_name
from vlmcli.inputs.patterns import expand_patterns
from vlmcli.interrupts import sigterm_as_interrupt
from vlmcli.media.sources import STDIN

EPILOG = examples(
    "vlm ask photo.jpg 'What is in this picture?'",
    "vlm ask before.png after.png 'What changed between these two?'",
    "vlm ask --sampling keyframe --frames 16 clip.mp4 'What happens here?'",
    "curl -s https://example.com/cat.jpg | vlm ask - 'What breed is this?'",
    "vlm ask --json -m Qwen/Qwen2-VL-2B-Instruct chart.png 'Summarise it.'",
    "vlm ask photo.jpg 'Is it indoors?' --choice yes --choice no",
    "vlm ask photo.jpg 'How many people?' \\",
    """  --schema '{"type":"object","properties":{"count":{"type":"integer"}}}'""",
)


QUESTION_FLAG = "to ask a question that is also a file name, pass it with --question"


def question_and_inputs(inputs: Sequence[str], last: str | None, flag: str | None) -> tuple[list[str], str]:
    """(inputs, question): the last argument is the question, unless `--question` gave it
    (`flag`): then every argument is an input, so a question that is also a file name in
    this folder (`describe`, `What is this?`) can be asked."""
    if flag is None:
        if last is None:
            raise ConfigError(f"Missing the question: e.g. vlm ask photo.jpg 'What is in this picture?' ({QUESTION_FLAG}).")
        return list(inputs), check_question(last)
    if not flag.strip():
        raise ConfigError("The question (--question) is empty.")
    return [*inputs, *([last] if last is not None else [])], flag


def check_question(question: str) -> str:
    """The question must be text, not an input the user meant to ask about."""
    if question == STDIN or Path(question).is_file():
        raise ConfigError(
            f"The last argument must be the question, but {question!r} is an input; "
            f"e.g. vlm ask photo.jpg 'What is in this picture?' ({QUESTION_FLAG})."
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


OPTION_HELP = {
    "dry_run": "Print the plan (each image's and video's resolution, tiles and visual tokens; the prompt "
    "tokens against the context) and stop; no weights are loaded.",
    "no_stream": "Print the answer only when complete, not token by token.",
    "json": "Print one JSON object on stdout (its fields: above).",
}
VIDEO_HELP = {
    "frames": "Sample exactly N frames of each video.",
    "max_frames": "Most frames per video. [default: 32]",
}


@with_structured_options
@with_option_group(VideoOptions, "video", helps=VIDEO_HELP)
@with_option_group(CommonOptions, "opts", helps=OPTION_HELP)
def ask(
    opts: CommonOptions,
    video: VideoOptions,
    structured: StructuredOptions,
    inputs: Annotated[
        Optional[list[str]],
        typer.Argument(
            metavar="INPUT", help=INPUT_HELP, show_default=False
        ),
    ] = None,
    # click hands it the last argument (an input, with --question).
    question: Annotated[
        Optional[str],
        typer.Argument(metavar="QUESTION", help="The question (the last argument; none with --question).", show_default=False),
    ] = None,
    question_flag: Annotated[
        Optional[str],
        typer.Option(
            "--question", metavar="TEXT", show_default=False,
            help="The question, given here instead of last: every argument is then an input. For a question "
            "that is also a file name in this folder (vlm ask photo.jpg --question describe).",
        ),
    ] = None,
    pages: Annotated[Optional[str], PAGES_OPTION] = None,
) -> None:
    """Ask a question about one or more images and videos.

    All inputs go into one prompt: the images in order, then the videos. Only the
    sampled frames of a video are decoded (--sampling, --frames, --fps). The answer
    streams to stdout; progress and errors go to stderr. A PDF gives the pictures of its
    pages (--pages; the first 8 by default), each named `<file>#page=N` (needs the pdf
    extra: pypdfium2). Quote the question: ask photo.jpg 'What is this?'. A question that is
    also a file name in this folder goes in --question: ask photo.jpg --question describe.

    With --json, one object: text, model, inputs, prompt_tokens, visual_tokens,
    completion_tokens, finish_reason, timings (load_s, vision_s, prefill_s, decode_s),
    truncated (null unless --truncate lowered the resolution: max_pixels, max_tiles,
    needed_tokens, prompt_tokens, context_length, answer_tokens), images and videos.
    Each image: path, width, height, resized, grid (tile rows, columns), visual_tokens.
    Each video: path, frames (how many the model was given), units (the steps in time
    they became: one per frame, one per two-frame patch for Qwen-VL and GLM-4V, fewer
    after --temporal-pool), resized (each frame as encoded), visual_tokens, decoder,
    variable_frame_rate and sampling: method, frames (index, time_s, reason), cuts
    (index, time_s, score), scan_degraded, damaged, video_start_s and warnings (which
    of several video streams is read, a first picture after the file's start, --frames
    cut back: the lines stderr says; empty when none).

    With a structured answer (--schema, --choice, --regex, --json-mode) --json also has
    valid and parsed; an answer that is not valid (cut by --max-tokens, or failing the
    check after generation) is still printed, with a warning, and exits 10.
    """
    with error_boundary(debug=opts.debug), sigterm_as_interrupt():  # a CI timeout's SIGTERM: as Ctrl-C
        given, question = question_and_inputs(inputs or [], question, question_flag)
        check_no_empty_input(given)
        sources = expand_patterns(given)  # "*.jpg" quoted, or from cmd.exe/PowerShell
        if question_flag is None:  # the words of an unquoted --question are not all last
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
        say_video_notes(media, set())  # which stream, a late first picture, --frames cut
        images, videos = split_media(media)
        request = Request(
            prompt=answer.prompt(question), images=images, videos=videos, system=opts.system,
            constraint=constraint,
        )
        try:
            outcome = run_requests([request], [Item(inputs=tuple(sources))], opts, settings, video=video)
        except VlmError as error:  # "A 1x20000 image is too elongated": which of the inputs is it
            named = naming_refused(error, media)
            if named is error:
                raise
            raise named from error  # --debug: the planning's traceback under it
        if outcome.not_valid:  # the answer and its warning are printed; scripts see the exit code
            raise typer.Exit(EXIT_NOT_VALID)


def register(app: typer.Typer) -> None:
    app.command("ask", epilog=EPILOG, no_args_is_help=True)(ask)
