"""Short names for a run's shards that still tell them apart: what a line of several shards
shows (`--dry-run`'s "Dataset: ..." line). Pure.

    shard_labels(["/d/00000.tar", "/d/00001.tar"])                  -> ["00000.tar", "00001.tar"]
    shard_labels(["/dd/train/data-00000-of-00001.arrow",
                  "/dd/test/data-00000-of-00001.arrow"])            -> ["train/data-00000-of-00001.arrow",
                                                                         "test/data-00000-of-00001.arrow"]

Each label is the file's name, with as many of its folders before it as it takes to differ
from every other shard's (a DatasetDict's splits each hold a `data-00000-of-00001.arrow`;
two img2dataset runs each a `00000.tar`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import PurePath


def shard_labels(sources: Sequence[str]) -> list[str]:
    """The label of each of `sources` (resolved paths), in their order."""
    parts = [PurePath(source).parts for source in sources]
    depth = [1] * len(parts)
    while True:
        labels = [_tail(p, d) for p, d in zip(parts, depth)]
        counts = Counter(labels)
        clashing = [i for i, label in enumerate(labels) if counts[label] > 1 and depth[i] < len(parts[i])]
        if not clashing:
            return labels
        for i in clashing:
            depth[i] += 1


def _tail(parts: tuple[str, ...], depth: int) -> str:
    return "/".join(parts[-depth:])
