"""The image bytes of the shard being captioned, in one temporary file.

Probing reads a shard front to back; captioning wants the same images back in batch order
(grouped by size), at random. Each item's bytes are appended to an unnamed temporary
file as they are read and read back by (offset, length): memory holds none of them, and
the disk holds one shard at a time. `read` is safe from several decode threads.

The file has a name (`path`, removed on `close`) so that another process on this machine
can read the same bytes by their `span` (`captions/ray_images.py`: Ray actors fetch a
batch's images when it runs).
"""

from __future__ import annotations

import os
import tempfile
import threading


class Spool:
    def __init__(self, folder: str | None = None) -> None:
        self._file = tempfile.NamedTemporaryFile(prefix="vlm-spool-", dir=folder)  # noqa: SIM115 - closed in close()
        self._where: dict[str, tuple[int, int]] = {}
        self._size = 0
        self._lock = threading.Lock()

    def add(self, name: str, data: bytes) -> None:
        with self._lock:
            self._file.seek(0, os.SEEK_END)
            self._file.write(data)
            self._where[name] = (self._size, len(data))
            self._size += len(data)

    def __contains__(self, name: str) -> bool:
        return name in self._where

    @property
    def path(self) -> str:
        """The file's name (readable by other processes on this machine until `close`)."""
        return self._file.name

    def span(self, name: str) -> tuple[int, int]:
        """(offset, length) of `name`'s bytes in the file."""
        return self._where[name]

    def flush(self) -> None:
        """Make everything added so far readable through `path`."""
        with self._lock:
            self._file.flush()

    def read(self, name: str, limit: int | None = None) -> bytes:
        """`name`'s bytes (its first `limit` bytes when given)."""
        offset, length = self._where[name]
        with self._lock:
            self._file.flush()
            return os.pread(self._file.fileno(), length if limit is None else min(length, limit), offset)

    def close(self) -> None:
        self._file.close()
        self._where.clear()

    def __enter__(self) -> "Spool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
