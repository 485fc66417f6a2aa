"""The one call a command makes to caption: dataset shards, or files and folders."""

from __future__ import annotations

from typing import Any

from vlmcli.captions.config import CaptionJob
from vlmcli.captions.datasets_run import dataset_inputs, run_datasets
from vlmcli.captions.pipeline import run
from vlmcli.captions.summary import Summary
from vlmcli.sinks.base import Sink


def run_job(job: CaptionJob, sink: Sink, **kwargs: Any) -> Summary:
    """`pipeline.run` for files and folders; `datasets_run.run_datasets` for dataset inputs;
    either holding the output (`Sink.claimed`)."""
    shards = dataset_inputs(job)
    with sink.claimed():  # one writer per output folder and --shard label
        if shards is not None:
            return run_datasets(job, sink, shards, **kwargs)
        return run(job, sink, **kwargs)
