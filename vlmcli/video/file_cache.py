"""Per-file caches: what was learnt from a file's headers, kept while the file is unchanged.

Probing a video and then reading it opens it several times (the probe, the sampler, the
scan), and each reader would otherwise index the whole file again. A function decorated
with `functools.lru_cache` over a `FileKey` is called through `cached_per_file`, which keys it
by the file's identity on disk, so an edited or replaced file is read afresh.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

FileKey = tuple[str, int, int, int]
"""(path, inode, size, mtime_ns): what the per-file caches are keyed by."""

RACY_NS = 2_000_000_000
"""A file modified less than this long ago is not cached: file times are coarse (a few ms),
so a file rewritten at the same size within one tick would otherwise hit a stale entry."""


def file_key(path: str) -> FileKey:
    stat = os.stat(path)
    return (path, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def through_cache(function: Callable[[FileKey], T], key: FileKey) -> T:
    """`function(key)` through its LRU cache, or uncached for a just-modified file."""
    if time.time_ns() - key[3] < RACY_NS:
        return function.__wrapped__(key)  # type: ignore[attr-defined]
    return function(key)


def cached_per_file(function: Callable[[FileKey], Any], path: str) -> Any:
    """`function` of the file at `path`, through its cache (see `through_cache`)."""
    return through_cache(function, file_key(path))
