"""Running a caption job for `vlm caption-dir`: progress on stderr (a bar, or timed lines in a
log), warnings as rows with reading notes are written, the summary (text on stderr, or JSON on
stdout), SIGTERM handled as Ctrl-C until the summary is final (then neither changes the exit
status it states); and the dry run's report."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from vlmcli.commands import _runtime
from vlmcli.commands._errors import EXIT_SOME_FAILED
from vlmcli.commands._json_names import json_line
from vlmcli.interrupts import interruptible_until_decided
from vlmcli.sinks.base import OutputFormat

if TYPE_CHECKING:
    from vlmcli.captions.config import CaptionJob
    from vlmcli.captions.progress import Progress
    from vlmcli.captions.summary import Summary
    from vlmcli.sinks.base import Sink


def make_progress(quiet: bool, log_every: float = 30.0) -> "Progress":
    """A bar on a terminal, a plain line every `log_every` s when stderr is a log file, or nothing."""
    from vlmcli.captions import progress

    return progress.make_progress(quiet=quiet, log_every=log_every)


def _report(summary: "Summary", *, quiet: bool, as_json: bool, fmt: OutputFormat) -> None:
    from vlmcli.captions.summary import naming_the_file

    list_errors = fmt is not OutputFormat.TXT
    if not quiet:
        sys.stderr.write(summary.text() + "\n")
        if summary.interrupted:
            again = "the same command with --skip-existing" if fmt is OutputFormat.TXT else "the same command"
            sys.stderr.write(f"  Run {again} to carry on: what was finished is kept and not done again.\n")
        for path, message in summary.errors[:5] if list_errors else []:
            sys.stderr.write(f"  error: {naming_the_file(path, message)}\n")
        if list_errors and summary.error > 5:
            sys.stderr.write(f"  ... and {summary.error - 5} more (status=error rows)\n")
        for message in summary.shard_errors:
            sys.stderr.write(f"  Error: {message}\n")
        sys.stderr.flush()
    if as_json:
        from vlmcli.sinks.jsonl import path_fields
        from vlmcli.media.names import utf8_text

        data = summary.to_dict()  # valid UTF-8 JSON: non-UTF-8 names as path + path_bytes
        data["errors"] = [path_fields(e["path"]) | {"error": utf8_text(e["error"])} for e in data["errors"]]
        data["notes"] = [path_fields(e["path"]) | {"notes": utf8_text(e["notes"])} for e in data["notes"]]
        sys.stdout.write(json_line(data) + "\n")
        sys.stdout.flush()


def run_job_reporting(
    job: "CaptionJob", sink: "Sink", *, quiet: bool, as_json: bool, fmt: OutputFormat, log_every: float = 30.0
) -> int:
    from vlmcli.captions.entry import run_job
    from vlmcli.captions.summary import Summary

    summary = Summary()
    progress = make_progress(quiet, log_every)

    from vlmcli.captions.summary import naming_the_file, warns

    warned: set[str] = set()

    def on_rows(rows: list[dict]) -> None:
        for row in rows:
            if fmt is OutputFormat.TXT and row["status"] == "error":  # txt files have no error column
                progress.log(f"error: {naming_the_file(row['path'], row['error'])}")
            elif warns(row.get("notes")) and row["path"] not in warned:  # as it happens: a log shows it at once
                warned.add(row["path"])
                progress.log(f"warning: {row['path']}: {row['notes']}")

    # SIGTERM as Ctrl-C; once the summary is final, neither changes the exit status it states
    with interruptible_until_decided() as decided:
        try:
            run_job(job, sink, load_engine=_runtime.load_engine, progress=progress, summary=summary, on_rows=on_rows)
            decided()
        except KeyboardInterrupt:
            decided()  # a second Ctrl-C cannot cut the summary either
            progress.close()
            summary.interrupted = True
            summary.finish()
            _report(summary, quiet=quiet, as_json=as_json, fmt=fmt)
            raise
        finally:
            progress.close()
        _report(summary, quiet=quiet, as_json=as_json, fmt=fmt)
        return EXIT_SOME_FAILED if summary.failed else 0


def dry_run_job(job: "CaptionJob", sink: "Sink", *, quiet: bool, as_json: bool) -> None:
    from vlmcli.captions.datasets_dryrun import dataset_dry_run
    from vlmcli.captions.entry import check_output_for, dataset_inputs
    from vlmcli.captions.dryrun import dry_run

    shards = dataset_inputs(job)
    check_output_for(shards, sink)
    progress = make_progress(quiet)
    try:
        if shards is not None:
            report = dataset_dry_run(job, sink, shards, load_engine=_runtime.load_engine, progress=progress)
        else:
            report = dry_run(job, sink, load_engine=_runtime.load_engine, progress=progress)
    finally:
        progress.close()
    if as_json:
        warning = report.context.warning()  # the text report carries it; JSON gets it on stderr
        if warning is not None and not quiet:
            sys.stderr.write(warning + "\n")
        sys.stdout.write(json_line(report.to_dict()) + "\n")
    else:
        sys.stderr.write(report.text() + "\n")
