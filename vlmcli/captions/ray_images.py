"""Dataset images for `--engine ray` actors, fetched when their batch runs.

    server = start_image_server(ray, spool)                 # one actor, on the driver's node
    spans = batch_spans(batch, spool)                       # [(path, offset, length), ...]
    images = ray.get(server.read.remote(spans))             # in a CaptionActor: {path: bytes}

Dataset items have no file a worker can open (`<shard>::<key>`); their bytes sit in the
driver's spool (`inputs.spool.Spool`, a temporary file). Putting every batch's images in
the object store before captioning starts would hold the whole run there (a million
images: spilled to disk, and nothing captioned until all of it was put). Instead one small
actor, pinned to the driver's node, reads the spool file and serves a batch's images to
the caption actor that is about to run it. The object store then holds only the images of
the batches in flight, however large the run (Ray Data's streaming executor bounds those),
and captioning starts as soon as the first actor is ready.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vlmcli.captions.plan import Task
    from vlmcli.inputs.spool import Spool

Span = tuple[str, int, int]
"""(path, offset, length) of one image's bytes in the spool file."""

READ_THREADS = 4
"""Concurrent reads the server takes (one per caption actor asking at once, up to this)."""


class SpoolReader:
    """Reads images out of a spool file by span (the server actor's class; plain Python)."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_RDONLY)

    def read(self, spans: Sequence[Span]) -> dict[str, bytes]:
        return {name: os.pread(self._fd, length, offset) for name, offset, length in spans}

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)


def batch_spans(batch: Sequence["Task"], spool: "Spool") -> list[Span]:
    """Where each distinct image of `batch` lies in `spool`."""
    return [(path, *spool.span(path)) for path in dict.fromkeys(task.path for task in batch)]


def start_image_server(ray: Any, spool: "Spool") -> Any:
    """A `SpoolReader` actor on this (the driver's) node, where the spool file is."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    spool.flush()
    here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
    server = ray.remote(num_cpus=0, max_concurrency=READ_THREADS)(SpoolReader)
    return server.options(scheduling_strategy=here).remote(spool.path)
