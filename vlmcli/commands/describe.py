"""`vlm describe INPUT...`: one description per image or video, printed in turn.

A bad input does not stop the others: each one is reported on stderr (one `Error:` line;
with --json also an error object in its place on stdout), the good ones are described,
and with several inputs the exit code is 9 when any failed (a single bad input keeps its
own code, e.g. 3). When all inputs were described but a constrained answer is not valid (cut
by --max-tokens or failing the check after generation), the exit code is 10, as `ask`'s:
an input that failed outranks an answer that is not valid. --dry-run says the same: an input
the model's planning refuses (a picture it cannot take, a prompt over the context) gets the
`Error:` line and error object the run gives it, the others are planned, exit 9 (`_generate._dry`).
Ctrl-C, or SIGTERM (a CI job's timeout), stops with `Interrupted.` and exit 130; the lines printed so far stay whole.
Several inputs have progress on stderr, and Ctrl-C says how many were described (`_describe_progress`).
"""

from __future__ import annotations

import dataclasses
import enum
import re
import sys
from typing import Annotated, Optional

import typer

from vlmcli.commands import _runtime
from vlmcli.commands._describe_progress import DescribeProgress, describing, make_describe_progress
from vlmcli.commands._document_options import PAGES_OPTION, page_choice, pages_unused
from vlmcli.commands._errors import EXIT_NOT_VALID, EXIT_SOME_FAILED, error_boundary, report
from vlmcli.commands._generate import run_requests
from vlmcli.commands._help_format import examples
from vlmcli.commands._inputs import DecodedWhenTaken, Failed, Media, check_each, naming_refused, say_video_notes
from vlmcli.commands._json_names import json_line
from vlmcli.commands._render import Item, error_record
from vlmcli.commands._terminal import is_terminal
from vlmcli.commands._usage import check_no_empty_input
from vlmcli.commands.option_groups import with_option_group
from vlmcli.commands.options import INPUT_HELP, CommonOptions
from vlmcli.commands.structured_options import StructuredAnswer, StructuredOptions, with_structured_options
from vlmcli.commands.video_options import VideoOptions
from vlmcli.engine.request import Request
from vlmcli.errors import ConfigError, VlmError
from vlmcli.interrupts import sigterm_as_interrupt
from vlmcli.media.document_input import DocumentInput
from vlmcli.media.image_input import ImageInput
from vlmcli.media.names import display_name
from vlmcli.inputs.patterns import expand_patterns
from vlmcli.media.sources import STDIN


class Detail(str, enum.Enum):
    BRIEF = "brief"
    NORMAL = "normal"
    DETAILED = "detailed"


PROMPTS: dict[Detail, str] = {
    Detail.BRIEF: "Describe this image in one short sentence.",
    Detail.NORMAL: "Describe this image.",
    Detail.DETAILED: (
        "Describe this image in detail: the main subjects, their appearance and actions, "
        "the setting, colours and lighting, and any visible text."
    ),
}

EPILOG = examples(
    "vlm describe photo.jpg",
    "vlm describe --detail brief *.jpg",
    "vlm describe --temporal-pool 2 clip.mp4",
    "vlm describe --json --prompt 'List the objects in this image.' a.png b.png",
)


def heading(source: str) -> str:
    """The line printed above each description when several inputs are described: the name
    as `display_name` writes it (a newline or ESC in a name escaped, so it stays one line of
    text), but for its undecodable bytes, which stdout writes back as the bytes they were
    (a terminal shows them as `\\xNN`, `_terminal.visible`)."""
    if source == STDIN:
        return "==> <stdin> <=="
    parts = _UNDECODABLE.split(source)  # odd parts: runs of undecodable bytes
    return f"==> {''.join(part if i % 2 else display_name(part) for i, part in enumerate(parts))} <=="


_UNDECODABLE = re.compile("([\udc80-\udcff]+)")


VIDEO_PROMPTS: dict[Detail, str] = {
    Detail.BRIEF: "Describe this video in one short sentence.",
    Detail.NORMAL: "Describe this video.",
    Detail.DETAILED: (
        "Describe this video in detail: the setting, the people and objects, what happens in order, "
        "and any visible text."
    ),
}


PAGE_PROMPTS: dict[Detail, str] = {
    Detail.BRIEF: "Describe this document page in one short sentence.",
    Detail.NORMAL: "Describe this document page: what kind of document it is and what it says.",
    Detail.DETAILED: (
        "Describe this document page in detail: what kind of document it is, its layout, headings, "
        "tables and figures, and the text it contains."
    ),
}
DOCUMENT_PROMPTS: dict[Detail, str] = {
    Detail.BRIEF: "Describe this document in one short sentence.",
    Detail.NORMAL: "These images are the pages of one document, in order. Describe the document: what kind it is and what it says.",
    Detail.DETAILED: (
        "These images are the pages of one document, in order. Describe it in detail: what kind of "
        "document it is, its structure, tables and figures, and what each page says."
    ),
}


OPTION_HELP = {
    "dry_run": "Print each input's plan (resolution, tiles, visual tokens; the prompt tokens against the "
    "context) and stop; no weights are loaded.",
    "no_stream": "Print each answer only when complete, not token by token.",
    "json": "Print one JSON object per input on stdout, in input order (fields as in vlm ask --help).",
}
VIDEO_HELP = {
    "frames": "Sample exactly N frames of each video.",
    "max_frames": "Most frames per video. [default: 32]",
}


@with_structured_options
@with_option_group(VideoOptions, "video", helps=VIDEO_HELP)
@with_option_group(CommonOptions, "opts", helps=OPTION_HELP)
def describe(
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="INPUT", help=INPUT_HELP, show_default=False
        ),
    ],
    opts: CommonOptions,
    video: VideoOptions,
    structured: StructuredOptions,
    detail: Annotated[
        Detail, typer.Option(case_sensitive=False, help="How much to say (picks a built-in prompt).")
    ] = Detail.NORMAL,
    prompt: Annotated[
        Optional[str], typer.Option(help="Use this prompt instead of the built-in one.", show_default=False)
    ] = None,
    batch_size: Annotated[
        Optional[int],
        typer.Option(
            min=1,
            help="Inputs decoded together: decode slots of continuous batching (default: 8 on a CPU or MPS, "
            "32 on CUDA), or the batch size with --static-batching (default 1). More is faster, uses more memory.",
            show_default=False,
        ),
    ] = None,
    static_batching: Annotated[
        bool,
        typer.Option(
            "--static-batching",
            help="Run fixed batches of --batch-size in turn instead of continuous batching (as caption-dir).",
        ),
    ] = False,
    pages: Annotated[Optional[str], PAGES_OPTION] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="No progress on stderr with several inputs (Error: lines and warnings still go there)."
        ),
    ] = False,
    log_every: Annotated[
        float,
        typer.Option(
            "--log-every", min=0.01, metavar="SECONDS",
            help="With several inputs and stderr not a terminal (a log file): one progress line this often.",
        ),
    ] = 30.0,
) -> None:
    """Describe images and videos, one answer per input.

    With several inputs, a `==> name <==` line precedes each answer. With --json, one
    object per input, in input order (fields as in `vlm ask --help`; a video lists the
    frames it was given, how they were sampled, and the warnings said of it). A bad input (missing, corrupt, too
    long for the context, ...) does not stop the others: it gets one `Error:` line on
    stderr (with --json also an object in its place: inputs, path, error, exit_code), and the
    exit code is 9 if any input failed (a single input: its own code, e.g. 3); else 10 if a
    constrained answer is not valid (cut by --max-tokens or failing the check after generation).
    With --dry-run --json, one plan object per input: model, inputs, images, videos,
    visual_tokens, prompt_tokens, total_tokens, context_length, truncated.

    With several inputs, progress goes to stderr: a bar on a terminal (unless the answers go
    to that terminal: they are the progress), else a line every --log-every s (a log file);
    -q turns it off. Ctrl-C says how many were described before `Interrupted.`.

    A PDF is described as one document from the pictures of its pages (--pages; the first 8 by
    default), each named `<file>#page=N` in --json (needs the `pdf` extra: pypdfium2).

    Several inputs are continuously batched (as `caption-dir`): up to --batch-size are
    decoded together, a finished answer's slot goes to the next input at once, and each
    answer is the one it gets alone (greedy). Answers still print in input order, the
    current one streamed. Families whose caches cannot be batched that way (and
    --static-batching) run fixed batches instead; --debug says which.
    """
    with error_boundary(debug=opts.debug), sigterm_as_interrupt():  # SIGTERM (a CI timeout) as Ctrl-C: exit 130
        if prompt is not None and not prompt.strip():  # as video-summarize --prompt '' and caption-dir -p ''
            raise ConfigError("--prompt is empty: give the prompt text, or leave the flag out for the built-in one.")
        settings = opts.settings()
        video.check()
        answer = structured.answer(settings, command="describe")
        check_no_empty_input(inputs)
        inputs = expand_patterns(inputs)  # "*.jpg" quoted, or from cmd.exe/PowerShell
        several = len(inputs) > 1
        # a typo in -m, or a GPU this machine lacks: one line before any picture is decoded
        _runtime.check_model(opts.engine_config(settings), device_asked=opts.device_asked(settings))
        load = dict(command="describe", max_pixels=settings.max_image_pixels, video=video, pages=page_choice(pages))
        handles: list[tuple[str, Media | None]] = []  # inputs that decode; several: decoded again when run
        items: list[Item] = []
        errors: dict[int, list[dict[str, object]]] = {}  # error objects by the answer they precede
        failed: list[Failed] = []
        documents = 0
        said: set[str] = set()  # video notes already on stderr
        for source, entry in zip(inputs, check_each(inputs, **load)):
            documents += isinstance(entry, DocumentInput)
            if isinstance(entry, Failed):
                report(str(entry.error))
                errors.setdefault(len(handles), []).append(error_record(source, entry.error))
                failed.append(entry)
                continue
            say_video_notes([entry], said)  # which stream, a late first picture, --frames cut
            handles.append((source, entry if source == STDIN or not several else None))
            items.append(Item(inputs=(source,), heading=heading(source) if several else None))
            del entry  # a long list of photos is never all in memory at once (DecodedWhenTaken)
        if pages is not None and not documents:
            pages_unused()

        def build(media: Media) -> Request:
            return _constrained(_request(media, prompt=prompt, detail=detail, system=opts.system), answer)

        requests = DecodedWhenTaken(handles, build, **load)
        engine_failed: dict[int, object] = {}
        not_valid = False
        continuous = several and not static_batching
        if requests:
            progress = _progress(several=several and not opts.dry_run, quiet=quiet, log_every=log_every)
            try:
                with describing(progress, total=len(inputs), failed=len(failed), quiet=quiet):
                    outcome = run_requests(
                        requests, items, opts, settings, batch_size=batch_size or (0 if continuous else 1),
                        continuous=continuous, isolate=several, video=video, errors=errors, progress=progress,
                    )  # fmt: skip
            except VlmError as error:  # one input, refused for its size: named, as ask names it
                named = error if several else naming_refused(error, [media for _, media in handles if media is not None])
                if named is error:
                    raise
                raise named from error
            engine_failed = dict(outcome.failed)
            not_valid = outcome.not_valid
        elif opts.json:  # nothing to run: no model is loaded, only the error objects are printed
            for record in errors.get(0, []):
                sys.stdout.write(json_line(record) + "\n")
        if failed or engine_failed:
            raise typer.Exit(EXIT_SOME_FAILED if several else failed[0].error.exit_code)
        if not_valid:  # every input described, but some constrained answer is not valid (its warning said so)
            raise typer.Exit(EXIT_NOT_VALID)


def _progress(*, several: bool, quiet: bool, log_every: float) -> DescribeProgress | None:
    """Progress for several inputs (`_describe_progress`): a bar on a terminal's stderr unless the
    answers go to a terminal too, plain timed lines in a log, nothing with --quiet; a single
    input (its answer is its progress) or a dry run: None."""
    if not several:
        return None
    return make_describe_progress(quiet=quiet, log_every=log_every, answers_on_terminal=is_terminal(sys.stdout))


def _request(media: Media, *, prompt: str | None, detail: Detail, system: str | None) -> Request:
    """The request describing one image, document or video (its built-in prompt unless --prompt is given)."""
    if isinstance(media, ImageInput):
        return Request(prompt=_prompt(prompt, PROMPTS, detail), images=(media,), system=system)
    if isinstance(media, DocumentInput):
        builtin = DOCUMENT_PROMPTS if len(media.pages) > 1 else PAGE_PROMPTS
        return Request(prompt=_prompt(prompt, builtin, detail), images=media.pages, system=system)
    return Request(prompt=_prompt(prompt, VIDEO_PROMPTS, detail), videos=(media,), system=system)


def _constrained(request: Request, answer: StructuredAnswer) -> Request:
    if answer.constraint is None:
        return request
    return dataclasses.replace(request, prompt=answer.prompt(request.prompt), constraint=answer.constraint)


def _prompt(given: str | None, builtin: dict[Detail, str], detail: Detail) -> str:
    return given if given is not None else builtin[detail]


def register(app: typer.Typer) -> None:
    app.command("describe", epilog=EPILOG, no_args_is_help=True)(describe)
