"""`vlm export`: captions of a `caption-dir` run, joined back to their images, in a trainer's format.

The join and the formats live in `vlmcli.exports`; this module parses flags, shows
progress on stderr and prints the summary.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from vlmcli.commands._dataset_options import ImageColumn, ImageRoot, KeyColumn, shard_readings
from vlmcli.commands._errors import EXIT_SOME_FAILED, error_boundary
from vlmcli.commands._help_format import examples
from vlmcli.commands._in_progress import note_run_in_progress
from vlmcli.errors import ConfigError, OutputError
from vlmcli.exports.formats.base import ExportFormat, ExportOptions, ExportSummary
from vlmcli.exports.records import ColumnNaming, Joined
from vlmcli.media.names import display_name
from vlmcli.output_files import is_write_failure

EPILOG = examples(
    "vlm export captions/ --to imagefolder -o train/",
    "vlm export captions/ --to webdataset -o shards/ --shard-size 5000",
    "vlm export captions/ --to txt --beside",
    "vlm export captions/ --to parquet -o hf/ \\",
    "  --prompt-name short=#1 --prompt-name long=#2",
)
LOG_EVERY_S = 10.0


def export(
    captions_dir: Annotated[Path, typer.Argument(help="The --output folder of a `vlm caption-dir` run (parquet or jsonl).")],
    to: Annotated[ExportFormat, typer.Option("--to", case_sensitive=False, help="txt, imagefolder, webdataset, parquet or jsonl.")],
    output: Annotated[
        Optional[Path], typer.Option("-o", "--output", help="Folder to create (a file for jsonl).", show_default=False)
    ] = None,
    caption_column: Annotated[str, typer.Option(help="Name of the caption column when the run had one prompt.")] = "caption",
    prompt_name: Annotated[
        Optional[list[str]],
        typer.Option(
            metavar="NAME=PROMPT",
            help="The column for a prompt (PROMPT: its text, or #N: the N-th in alphabetical order). Repeatable.",
            show_default=False,
        ),
    ] = None,
    shard_size: Annotated[int, typer.Option(help="Records per tar (webdataset) or Parquet file.")] = 1000,
    beside: Annotated[bool, typer.Option("--beside", help="txt: write each .txt next to its image (no -o).")] = False,
    with_images: Annotated[bool, typer.Option("--with-images", help="txt: copy the images into -o's tree too.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Write into a non-empty -o, or over existing files.")] = False,
    image_column: ImageColumn = None,
    key_column: KeyColumn = None,
    image_root: ImageRoot = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object on stdout.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Write a run's captions in the format a trainer reads: one record per image, one column per prompt.

    Error rows are left out and counted; an image whose file is gone is skipped and
    named (exit 9).
    """
    with error_boundary(debug=debug):
        from vlmcli.exports.registry import exporter_class
        from vlmcli.exports.records import join_rows
        from vlmcli.exports.results import read_results
        from vlmcli.sinks.kept_types import load_kept_types

        naming = ColumnNaming.parse(caption_column=caption_column, prompt_names=prompt_name or [])
        readings = shard_readings(captions_dir, image_column, key_column, image_root)
        options = ExportOptions(shard_size=shard_size, beside=beside, with_images=with_images, force=force, readings=readings)
        exporter = exporter_class(to)(options)
        joined = join_rows(read_results(captions_dir), naming, kept_types=load_kept_types(Path(captions_dir)))
        note_run_in_progress(captions_dir)
        if json_output and output is not None and str(output) == "-":
            raise ConfigError("-o - writes the records on stdout, where --json writes the summary: drop one of them.")
        try:
            summary = exporter.export(joined, output, progress=_progress(len(joined.records)))
        except OSError as exc:  # a file of the export that cannot be written (no permission, disk full)
            if not (is_write_failure(exc) or _inside(exc.filename, output)):
                raise
            target = exc.filename or ("the results" if str(output) == "-" else output)  # `-o -`: stdout
            raise OutputError(f"Cannot write {target}: {exc.strerror or exc}.") from None
        _report(to, joined, summary, json_output=json_output)
        if summary.missing_images or summary.clashes:
            raise typer.Exit(EXIT_SOME_FAILED)


def _inside(filename: object, output: Path | None) -> bool:
    """Whether the file an OSError names is one the export writes (under -o)."""
    if not isinstance(filename, (str, os.PathLike)) or output is None:
        return False
    try:
        return Path(filename).resolve().is_relative_to(output.resolve())
    except (OSError, ValueError):
        return False


def _progress(total: int):  # noqa: ANN202 - a Progress callback
    last = [time.monotonic()]

    def tick(done: int) -> None:
        now = time.monotonic()
        if now - last[0] >= LOG_EVERY_S or done == total and total >= 10_000:
            last[0] = now
            sys.stderr.write(f"export: {done:,}/{total:,} records\n")
            sys.stderr.flush()

    return tick


def _count_word(n: int) -> str:
    return {2: "two", 3: "three"}.get(n, str(n))


def _short(text: str, limit: int = 60) -> str:
    line = text.split("\n", 1)[0]
    return line if len(line) <= limit and line == text else line[: limit - 1] + "…"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def json_summary(fmt: ExportFormat, joined: Joined, summary: ExportSummary) -> dict[str, object]:
    """The `--json` object (every field is documented in README, "Out to trainers")."""
    return {
        "format": fmt.value,
        "output": str(summary.out) if summary.out is not None else None,
        "records": summary.records,
        "captions": summary.captions,
        "columns": joined.columns,
        "files": len(summary.files),
        "error_rows_excluded": joined.error_rows,
        "superseded_rows": joined.superseded,
        "images_without_caption": len(joined.uncaptioned),
        "missing_images": summary.missing_images,
        "videos_left_out": summary.videos_left_out,
        "written_as_decoded": summary.decoded,
        "decoded_reasons": summary.decoded_reasons,
        "removed_stale_shards": [str(path) for path in summary.removed],
        "clashes": summary.clashes,
        "kept_columns": joined.kept,
        "kept_as_json": summary.kept_as_json,
        "kept_notes": summary.kept_notes,
        "prompt_configurations": joined.configurations,
    }


def _report(fmt: ExportFormat, joined: Joined, summary: ExportSummary, *, json_output: bool) -> None:
    where = str(summary.out) if summary.out is not None else "beside the images"
    where = "standard output" if where == "-" else where
    if json_output:
        payload = json_summary(fmt, joined, summary)
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    columns = ", ".join(f"{c} = {p!r}" for c, p in joined.columns.items())
    lines = [f"Exported {_plural(summary.records, 'record')} ({_plural(summary.captions, 'caption')}) to {where} as {fmt.value}."]
    if len(joined.columns) > 1:
        lines.append(f"Columns: {columns}.")
    renamed = [f"{column!r} as {name!r}" for column, name in joined.kept.items() if column != name]
    if renamed and fmt is not ExportFormat.TXT:
        lines.append(f"Kept columns renamed (the export has its own field of that name): {', '.join(renamed)}.")
    for name, why in summary.kept_as_json.items():
        lines.append(f"note: kept column {name!r} written as JSON text (one type per column): {why}.")
    for name, why in summary.kept_notes.items():
        lines.append(f"note: kept column {name!r}: {why}.")
    if joined.uncaptioned:  # error rows are of the same images: one fact, not two
        images, rows = _plural(len(joined.uncaptioned), "image"), _plural(joined.error_rows, "error row")
        lines.append(f"Left out {images} with only error rows ({rows}).")
    elif joined.error_rows:
        lines.append(f"Left out {_plural(joined.error_rows, 'error row')} (of images captioned by their other prompts).")
    if summary.videos_left_out:
        lines.append(
            f"Left out {_plural(summary.videos_left_out, 'video')}: {fmt.value} holds pictures (loaders read its files "
            "as images); --to webdataset or jsonl keep videos."
        )
    if summary.decoded:
        reasons = ", ".join(summary.decoded_reasons)
        lines.append(
            f"note: {_plural(summary.decoded, 'image')} written as decoded ({reasons}): the picture each caption describes."
        )
    if summary.removed:
        removed = _plural(len(summary.removed), "shard")
        lines.append(f"Removed {removed} of an earlier export there ({summary.removed[0].name}, ...).")
    if joined.superseded:
        lines.append(f"{_plural(joined.superseded, 'older row')} replaced by a newer caption of the same image and prompt.")
    for prompt, configurations in joined.configurations.items():
        lines.append(
            f"warning: {_count_word(configurations)} configurations of the prompt {_short(prompt)!r} captioned the same images "
            "(other settings, or prompt-file lines of this text with other constraints; the rows tell them apart "
            "only by config_hash); exporting the newer caption of each image."
        )
    for clash in summary.clashes[:5]:
        lines.append(f"Error: left out {clash}.")
    for path in summary.missing_images[:5]:
        lines.append(f"Error: image missing or unreadable, skipped: {path}")
    if len(summary.missing_images) > 5:
        lines.append(f"... and {len(summary.missing_images) - 5:,} more missing images.")
    # Each line as `display_name` writes a name: file names (missing images, clashes, the
    # output) are any bytes, and a terminal must show them as text, not run them.
    sys.stderr.write("\n".join(map(display_name, lines)) + "\n")


def register(app: typer.Typer) -> None:
    app.command("export", epilog=EPILOG)(export)
