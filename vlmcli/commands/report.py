"""`vlm report`: a static HTML page of a caption run's results, to look at a sample."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from vlmcli.commands._dataset_options import ImageColumn, ImageRoot, KeyColumn, shard_readings
from vlmcli.commands._errors import error_boundary
from vlmcli.commands._in_progress import note_run_in_progress
from vlmcli.errors import ConfigError, OutputError
from vlmcli.output_files import write_text


def report(
    captions_dir: Annotated[Path, typer.Argument(help="The --output folder of a `vlm caption-dir` run (parquet or jsonl).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The HTML file to write.")] = Path("report.html"),
    limit: Annotated[int, typer.Option(help="Most images shown (a sample: errors first, up to half).")] = 300,
    seed: Annotated[int, typer.Option(help="Seed of the sample.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite -o if it exists.")] = False,
    image_column: ImageColumn = None,
    key_column: KeyColumn = None,
    image_root: ImageRoot = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Write one self-contained HTML page (thumbnails, captions, status, an error filter).

    It needs no server and no network: open it from disk in any browser.
    """
    with error_boundary(debug=debug):
        from vlmcli.exports.results import read_results
        from vlmcli.report.entries import entries_from_rows, overview, sample
        from vlmcli.report.page import render_page
        from vlmcli.report.thumbs import item_thumbnails, thumbnail_uri

        if limit < 1:
            raise ConfigError(f"--limit must be at least 1, not {limit}.")
        rows = read_results(captions_dir)  # a wrong folder is said first, before any -o question
        note_run_in_progress(captions_dir)
        if output.exists() and not force:
            raise OutputError(f"{output} exists; choose another -o or pass --force.")
        entries = entries_from_rows(rows)
        shown = sample(entries, limit=limit, seed=seed)
        summary = overview(rows, entries)
        wanted: dict[str, set[str]] = {}
        for entry in shown:
            if entry.source is not None and entry.source_key is not None:
                wanted.setdefault(entry.source, set()).add(entry.source_key)
        items = item_thumbnails(wanted, shard_readings(captions_dir, image_column, key_column, image_root))  # each shard once
        page = render_page(
            title=f"vlm caption results: {captions_dir}",
            overview=summary,
            shown=[(e, items.get((e.source, e.source_key or "")) if e.source else thumbnail_uri(e.path)) for e in shown],
        )
        write_text(output, page)
        if json_output:
            payload = {"output": str(output), "images": summary.images, "errors": summary.errors, "shown": len(shown)}
            sys.stdout.write(json.dumps(payload) + "\n")
        sys.stderr.write(
            f"Wrote {output}: {len(shown):,} of {summary.images:,} images shown, {summary.errors:,} with errors.\n"
        )


def register(app: typer.Typer) -> None:
    app.command("report")(report)
