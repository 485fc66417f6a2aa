"""The one call a command makes to caption: dataset shards, or files and folders.

Dataset shards go to the runner of the job's backend (`DATASET_RUNNERS`): shard by shard
in this process (`datasets_run`), or read and captioned by Ray (`ray_datasets`). Which
inputs are shards is `dataset_inputs`' answer: INPUT arguments, `--glob` patterns and
`--files-from` lines alike (`inputs/expand.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vlmcli.captions.config import Backend, CaptionJob
from vlmcli.captions.pipeline import run
from vlmcli.captions.summary import Summary
from vlmcli.errors import ConfigError
from vlmcli.inputs.expand import ShardRef
from vlmcli.sinks.base import OutputFormat, Sink

DatasetRunner = Callable[..., Summary]


def dataset_runners() -> dict[Backend, DatasetRunner]:
    """Backend -> the function that captions dataset shards (imported when asked for)."""
    from vlmcli.captions.datasets_run import run_datasets
    from vlmcli.captions.ray_datasets import run_ray_datasets

    return {Backend.LOCAL: run_datasets, Backend.RAY: run_ray_datasets}


def dataset_inputs(job: CaptionJob) -> list[ShardRef] | None:
    """The dataset shards the job's inputs name (INPUT arguments, then --glob patterns, then
    --files-from lines), or None for plain files and folders. A --files-from list read from
    stdin is read once: `discover` gets the same lines (`read_file_list`)."""
    from vlmcli.captions.discover import read_file_list
    from vlmcli.inputs.expand import check_columns_apply, dataset_shards
    from vlmcli.inputs.formats import InputFormat

    if job.dataset.input_format is InputFormat.FILES:
        return None
    listed = read_file_list(job.files_from) if job.files_from is not None else []
    shards = dataset_shards(
        job.inputs, forced=job.dataset.input_format, exclude=job.exclude, globs=job.globs, listed=listed
    )
    if shards is not None:
        columns = job.dataset.columns
        check_columns_apply(shards, key_column=columns.key_column, keep_columns=columns.keep_columns)
    return shards


def check_output_for(shards: object, sink: Sink) -> None:
    """Dataset items (`shards` not None) have no file to put a `.txt` beside: refused, with the
    two steps that give the same files."""
    if shards is not None and sink.format is OutputFormat.TXT:
        raise ConfigError(
            "--format txt writes a caption file beside each image file, and dataset items (PDF pages, tar, zip and "
            "table rows) have none: caption with -o DIR (parquet or jsonl), then `vlm export DIR --to txt -o OUT`."
        )


def run_job(job: CaptionJob, sink: Sink, **kwargs: Any) -> Summary:
    """`pipeline.run` for files and folders; the backend's dataset runner for dataset inputs;
    either holding the output (`Sink.claimed`). With `--engine ray`, Ray Data must be
    installed and `RAY_ADDRESS` answer as a Ray head before any input is read or hashed
    (`ray_address.check_ray`: seconds, where a big folder takes minutes)."""
    if job.backend is Backend.RAY:
        from vlmcli.captions.ray_address import check_ray

        check_ray()
    shards = dataset_inputs(job)
    check_output_for(shards, sink)
    try:
        with sink.claimed():  # one writer per output folder and --shard label
            if shards is not None:
                from vlmcli.inputs.readings import ShardReading

                reading = {ref.source: ShardReading.of(ref.format, job.dataset.columns) for ref in shards}
                sink.note_datasets(reading)  # export and report read the items back the same way
                for line in kwargs["summary"].unwalked(shards):  # shard folders' unreadable and symlinked subfolders
                    kwargs["progress"].log(line)
                summary = dataset_runners()[job.backend](job, sink, shards, **kwargs)
            else:
                summary = run(job, sink, **kwargs)
    except KeyboardInterrupt:  # its summary is printed too: it names no folder the run left uncreated
        note_unwritten(job, sink, kwargs["summary"], stopped=True)
        raise
    note_unwritten(job, sink, summary)
    return summary


def note_unwritten(job: CaptionJob, sink: Sink, summary: Summary, *, stopped: bool = False) -> None:
    """Say in `summary` that the output folder is not there: a run with nothing to write (every
    input in other `--shard` jobs' shards, all done elsewhere) removes the folder it made
    (`Sink.claimed`), so "Output: out3" named nothing; now "none written" and why."""
    import os

    folder = getattr(sink, "folder", None)  # the txt format writes beside the images: no folder
    if folder is None or os.path.isdir(folder):
        return
    if stopped:
        summary.unwritten = "stopped before the first row"
    elif job.shard.count > 1 and summary.out_of_shard:
        summary.unwritten = f"nothing in shard {job.shard.index}/{job.shard.count}"
    else:
        summary.unwritten = "nothing to write"
