"""The one call a command makes to caption: dataset shards, or files and folders.

Dataset shards go to the runner of the job's backend (`DATASET_RUNNERS`): shard by shard
in this process (`datasets_run`), or read and captioned by Ray (`ray_datasets`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vlmcli.captions.config import Backend, CaptionJob
from vlmcli.captions.datasets_run import dataset_inputs
from vlmcli.captions.pipeline import run
from vlmcli.captions.summary import Summary
from vlmcli.errors import ConfigError
from vlmcli.sinks.base import OutputFormat, Sink

DatasetRunner = Callable[..., Summary]


def dataset_runners() -> dict[Backend, DatasetRunner]:
    """Backend -> the function that captions dataset shards (imported when asked for)."""
    from vlmcli.captions.datasets_run import run_datasets
    from vlmcli.captions.ray_datasets import run_ray_datasets

    return {Backend.LOCAL: run_datasets, Backend.RAY: run_ray_datasets}


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
    either holding the output (`Sink.claimed`)."""
    shards = dataset_inputs(job)
    check_output_for(shards, sink)
    with sink.claimed():  # one writer per output folder and --shard label
        if shards is not None:
            from vlmcli.inputs.readings import ShardReading

            reading = {ref.source: ShardReading.of(ref.format, job.dataset.columns) for ref in shards}
            sink.note_datasets(reading)  # export and report read the items back the same way
            for line in kwargs["summary"].unwalked(shards):  # shard folders' unreadable and symlinked subfolders
                kwargs["progress"].log(line)
            return dataset_runners()[job.backend](job, sink, shards, **kwargs)
        return run(job, sink, **kwargs)
