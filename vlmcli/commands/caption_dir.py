"""`vlm caption-dir INPUT...`: caption every image of folders / globs / file lists, resumably.

The pipeline lives in `vlmcli.captions`, the output formats in `vlmcli.sinks`; this module
parses flags, wires them together, renders the summary and picks the exit code:

    0  every (image, prompt) is captioned (now or by an earlier run)
    9  the run finished but some items failed (status=error rows; see the summary)
    130  interrupted (Ctrl-C or SIGTERM): finished rows were flushed first
    plus the usual codes for bad flags (2), inputs (3), models (4), missing Ray (7), output (8).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from vlmcli.captions.config import Backend
from vlmcli.commands import _runtime
from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.formats import InputFormat
from vlmcli.inputs.options import DatasetInput
from vlmcli.commands._caption_run import dry_run_job, run_job_reporting
from vlmcli.commands._errors import EXIT_SOME_FAILED, error_boundary  # noqa: F401 - EXIT_SOME_FAILED: re-exported
from vlmcli.commands._help_format import examples
from vlmcli.commands.option_groups import with_option_group
from vlmcli.commands.options import CommonOptions, note_unused_sampling
from vlmcli.commands.structured_options import StructuredOptions, with_structured_options
from vlmcli.commands.video_options import VIDEO_MAX_SIDE, VideoOptions
from vlmcli.errors import ConfigError
from vlmcli.sinks.base import ExistingPolicy, OutputFormat, TxtName

if TYPE_CHECKING:
    from vlmcli.captions.config import VideoCaptioning
    from vlmcli.captions.prompt_file import PromptSpec

CAPTION_FRAMES = 8
"""Default --max-frames per video here: a caption is a sentence or two, not a summary."""

EPILOG = examples(
    "vlm caption-dir photos/ -o captions/",
    "vlm caption-dir photos/ -o captions/ --prompt 'Describe this image.' \\",
    "  --prompt 'List the objects.'",
    "find . -name '*.jpg' -print0 | vlm caption-dir --files-from - \\",
    "  -o out/ --format jsonl",
    "vlm caption-dir photos/ --format txt --skip-existing",
    "vlm caption-dir photos/ -o out/ --shard 3/8   # job 3 of an 8-job array",
    "vlm caption-dir media/ -o out/ --videos --frames 8 --sampling keyframe",
    "vlm caption-dir photos/ --choice indoor --choice outdoor -o tags/",
    after="Rerunning resumes, from any folder, however the paths are spelled: done items are skipped,"
    " error rows are retried.",
)

_PIPELINE = "Pipeline"


def _opt(*decls: str, help: str, **kwargs: object) -> typer.models.OptionInfo:
    return typer.Option(*decls, help=help, rich_help_panel=_PIPELINE, **kwargs)


def existing_policy(*, overwrite: bool, skip_existing: bool, fmt: OutputFormat) -> ExistingPolicy:
    if overwrite and skip_existing:
        raise ConfigError("--overwrite and --skip-existing contradict each other; pick one.")
    if (overwrite or skip_existing) and fmt is not OutputFormat.TXT:
        raise ConfigError(
            "--overwrite / --skip-existing apply to --format txt; Parquet and JSONL output resumes by itself."
        )
    if overwrite:
        return ExistingPolicy.OVERWRITE
    return ExistingPolicy.SKIP if skip_existing else ExistingPolicy.REFUSE


def gather_prompts(prompts: list[str] | None, prompt_file: Path | None) -> "list[PromptSpec]":
    """--prompt texts, then the prompt file's entries (which may carry their own constraint)."""
    from vlmcli.captions.prompt_file import PromptSpec, read_prompt_file

    specs = [PromptSpec(text) for text in prompts or []]
    if prompt_file is not None:
        specs += read_prompt_file(prompt_file)
    if any(spec.constraint is not None for spec in specs):
        from vlmcli.structured.backend import check_available
        from vlmcli.structured.verdict import checked_after_note

        check_available()  # exit 7 before any model loads
        for spec in specs:  # the command-wide constraint's is said by StructuredOptions.answer
            note = checked_after_note(spec.constraint)
            if note is not None:
                sys.stderr.write(f"warning: {prompt_file}, prompt {spec.text[:40]!r}: {note}\n")
    return specs


def video_captioning(video: VideoOptions, *, enabled: bool) -> "VideoCaptioning | None":
    """--videos: the frame sampling for video files (None without --videos)."""
    from vlmcli.captions.config import VideoCaptioning

    video.check()
    if not enabled:
        return None
    return VideoCaptioning(
        method=video.method(),
        options=video.sampling_options(default_max_frames=CAPTION_FRAMES),
        max_side=VIDEO_MAX_SIDE,
    )


OPTION_HELP = {
    "dry_run": "Count the inputs and their visual tokens, check the context and time one real batch (this "
    "loads the model) to estimate the run's time; writes nothing.",
    "no_stream": "No effect here: rows are written as their captions finish.",
    "json": "Print the run's summary as one JSON object on stdout (--dry-run: the plan); fields: "
    "docs/caption-dir.md.",
}
VIDEO_HELP = {
    "frames": "Sample exactly N frames of each video (--videos).",
    "max_frames": "Most frames per video (--videos). [default: 8]",
}


@with_structured_options
@with_option_group(VideoOptions, "video", helps=VIDEO_HELP)
@with_option_group(CommonOptions, "opts", helps=OPTION_HELP)
def caption_dir(
    opts: CommonOptions,
    video: VideoOptions,
    structured: StructuredOptions,
    inputs: Annotated[
        Optional[list[str]],
        typer.Argument(
            metavar="INPUT",
            help="Folders (searched recursively) and image files; dataset shards: WebDataset tars "
            "(shards/{00000..00099}.tar), zips, Parquet files or folders, a save_to_disk folder, CSV/TSV "
            "or JSON tables naming pictures; PDFs (a row per page); video files with --videos.",
            show_default=False,
        ),
    ] = None,
    globs: Annotated[
        Optional[list[str]],
        _opt("--glob", metavar="PATTERN", help="Files matching this pattern (** recurses); repeatable. Quote it.", show_default=False),
    ] = None,
    files_from: Annotated[
        Optional[str],
        _opt("--files-from", metavar="FILE", help="Read paths from FILE, or - for stdin (one per line, or NUL-separated).", show_default=False),
    ] = None,
    output: Annotated[
        Optional[Path],
        _opt("--output", "-o", metavar="DIR", help="Output folder for parquet/jsonl shards (not used by txt).", show_default=False),
    ] = None,
    fmt: Annotated[
        OutputFormat, _opt("--format", case_sensitive=False, help="parquet or jsonl shards in --output, or a .txt beside each image.")
    ] = OutputFormat.PARQUET,
    prompts: Annotated[
        Optional[list[str]],
        _opt("--prompt", "-p", metavar="TEXT", help="Prompt; repeatable: one row per (image, prompt). [default: a caption prompt]", show_default=False),
    ] = None,
    prompt_file: Annotated[
        Optional[Path],
        _opt(
            "--prompt-file", metavar="FILE", show_default=False,
            help="More prompts, one per line; a line starting with '{' is a JSON object that may carry its own "
            'constraint: {"prompt": "Indoor?", "choice": ["yes", "no"]} (keys: prompt, schema, choice, regex, '
            "json_mode, schema_prompt).",
        ),
    ] = None,
    batch_size: Annotated[
        int,
        _opt(
            "--batch-size", min=0,
            help="Requests decoded together (continuous batching's slots; with --static-batching, per engine call); "
            "0 = automatic (8 on CPU or MPS, 32 on CUDA).",
        ),
    ] = 0,
    static_batching: Annotated[
        bool,
        _opt(
            "--static-batching",
            help="Fixed batches that run until their longest caption ends, instead of continuous batching "
            "(a finished row's slot taken by the next image); families that cannot batch continuously always run static.",
        ),
    ] = False,
    max_batch_tokens: Annotated[
        int,
        _opt(
            "--max-batch-tokens", min=0, metavar="N",
            help="Most visual tokens per engine call (a larger image runs alone); 0 = automatic (4096 on CPU, 16384 on MPS, 65536 on CUDA).",
        ),
    ] = 0,
    videos: Annotated[
        bool,
        _opt("--videos", help="Caption video files too (frames sampled with the Video options); else videos are skipped."),
    ] = False,
    decode_threads: Annotated[int, _opt("--decode-threads", min=1, help="Threads reading and decoding images.")] = 2,
    rows_per_file: Annotated[
        int, _opt("--rows-per-file", min=1, help="Rows per shard file (smaller: less lost to a crash).")
    ] = 1000,
    flush_seconds: Annotated[
        float,
        _opt("--flush-seconds", min=0.01, metavar="SECONDS", help="Publish a (smaller) shard at least this often, so a killed run loses little."),
    ] = 60.0,
    log_every: Annotated[
        float,
        _opt("--log-every", min=0.01, metavar="SECONDS", help="When stderr is not a terminal (a log file): one progress line this often."),
    ] = 30.0,
    overwrite: Annotated[bool, _opt("--overwrite", help="txt: replace existing caption files.")] = False,
    skip_existing: Annotated[
        bool, _opt("--skip-existing", help="txt: keep existing caption files and skip those images.")
    ] = False,
    txt_name: Annotated[
        Optional[TxtName],
        _opt(
            "--txt-name", case_sensitive=False, show_default=False,
            help="txt: caption file names: stem (photo.jpg -> photo.txt; images sharing a stem are errors) "
            "or filename (photo.jpg -> photo.jpg.txt, never shared). [default: stem]",
        ),
    ] = None,
    input_format: Annotated[
        InputFormat,
        _opt("--input-format", case_sensitive=False, help="What the INPUTs are; auto detects it from their content."),
    ] = InputFormat.AUTO,
    image_column: Annotated[
        Optional[str],
        _opt("--image-column", metavar="NAME", help="Datasets: the image column (bytes, {bytes, path} or a path); a tar key's field (jpg, mp4, seg.png).", show_default=False),
    ] = None,
    key_column: Annotated[
        Optional[str],
        _opt("--key-column", metavar="NAME", help="Datasets: the key column. [default: __key__, key, id, file_name, row number]", show_default=False),
    ] = None,
    keep_columns: Annotated[
        Optional[str],
        _opt("--keep-columns", metavar="A,B", help="Datasets: columns (or a tar key's .json fields) copied into each row's extra.", show_default=False),
    ] = None,
    image_root: Annotated[
        Optional[Path],
        _opt("--image-root", metavar="DIR", help="Datasets: the folder relative image paths start from. [default: the table's folder]", show_default=False),
    ] = None,
    shard: Annotated[
        Optional[str], _opt("--shard", metavar="I/N", help="Only shard I of N (0-based), split by content hash.", show_default=False)
    ] = None,
    backend: Annotated[
        Backend, _opt("--engine", case_sensitive=False, help="Run here, or on Ray Data actors (pip install 'vlmcli[ray]').")
    ] = Backend.LOCAL,
    concurrency: Annotated[int, _opt("--concurrency", min=1, help="Ray: engine actors (one model each).")] = 1,
    quiet: Annotated[bool, _opt("--quiet", "-q", help="No progress bar or summary on stderr.")] = False,
) -> None:
    """Caption every image in folders, globs or a file list, into Parquet, JSONL or .txt files.

    One row per (image, prompt): key (SHA-256 of the file), path, status, error, caption,
    prompt, model, tokens, latency. Broken files become error rows; the run goes on.
    Rerunning resumes (rows store each file's resolved absolute path). Progress: a bar on
    a terminal, a plain line every --log-every s in a log file (stderr not a terminal).
    stdout stays empty unless --json (the final summary as JSON).
    Exit 0 when all succeeded, 9 when some items failed. --dry-run counts the inputs
    (images, unreadable files, videos) and visual tokens, checks the context, and times
    one real batch (this loads the model) to estimate the run's time.
    --videos captions video files too (found by content), from frames sampled as
    --sampling/--frames/--fps/--max-frames say (default 8 frames per video).
    With --schema/--choice/--regex/--json-mode (or the [caption-dir] table of config.toml)
    every answer is constrained; rows gain answer_json (the answer as JSON text; null if
    --max-tokens cut it), the prompt column shows the prompt as sent, and the constraint is
    part of config_hash. A --prompt-file line {"prompt": ..., "choice": [...]} carries its own
    constraint (schema, choice, regex or json_mode), so one run can mix free and constrained prompts.
    """
    with error_boundary(debug=opts.debug):
        from vlmcli.captions.config import CaptionJob
        from vlmcli.captions.shard import ShardSpec
        from vlmcli.sinks.base import SinkConfig
        from vlmcli.sinks.registry import make_sink

        policy = existing_policy(overwrite=overwrite, skip_existing=skip_existing, fmt=fmt)
        if txt_name is not None and fmt is not OutputFormat.TXT:
            raise ConfigError("--txt-name applies to --format txt.")
        texts = gather_prompts(prompts, prompt_file)
        if fmt is OutputFormat.TXT and len(set(texts)) > 1:
            raise ConfigError("--format txt holds one caption per image; use one prompt (or parquet/jsonl for several).")
        spec = ShardSpec.parse(shard)
        settings = opts.settings()
        answer = structured.answer(settings, command="caption-dir")
        clips = video_captioning(video, enabled=videos)
        job = CaptionJob(
            engine=video.apply(opts.engine_config(settings)),
            generation=opts.generation_config(settings, note=False),
            inputs=tuple(inputs or ()),
            globs=tuple(globs or ()),
            files_from=files_from,
            prompts=tuple(texts),
            system=opts.system,
            max_image_pixels=settings.max_image_pixels,
            batch_size=batch_size,
            static_batching=static_batching,
            max_batch_tokens=max_batch_tokens,
            videos=clips,
            decode_threads=decode_threads,
            shard=spec,
            backend=backend,
            concurrency=concurrency,
            exclude=output,
            dataset=DatasetInput(
                input_format=input_format,
                columns=ColumnChoice(
                    image_column=image_column, key_column=key_column, keep_columns=tuple((keep_columns or "").split(",")),
                    image_root=image_root, page_pixels=settings.max_image_pixels,
                ),
            ),
            debug=opts.debug,
            constraint=answer.constraint,
            schema_prompt=answer.state,
        )
        sink = make_sink(
            fmt,
            SinkConfig(
                output=output, rows_per_file=rows_per_file, flush_seconds=flush_seconds, label=spec.label, existing=policy,
                txt_name=txt_name or TxtName.STEM,
            ),
        )
        # Ray workers may have the GPU this machine lacks; a dry run here loads the model to time it
        device_asked = settings.spelled("device") if job.backend is Backend.LOCAL else None
        _runtime.check_model(job.engine, device_asked=device_asked)  # a typo in -m: one line now, not after the scan
        note_unused_sampling(settings)
        if opts.dry_run:  # the shared --dry-run option (vlmcli/commands/options.py)
            if job.backend is Backend.RAY:  # as a run would, before reading anything: Ray installed, RAY_ADDRESS a head
                from vlmcli.captions.ray_address import check_ray

                check_ray()
            dry_run_job(job, sink, quiet=quiet, as_json=opts.json)
            return
        code = run_job_reporting(job, sink, quiet=quiet, as_json=opts.json, fmt=fmt, log_every=log_every)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("caption-dir", epilog=EPILOG, no_args_is_help=True)(caption_dir)
