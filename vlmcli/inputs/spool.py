"""The image bytes of the shard being captioned, in one temporary file.

Probing reads a shard front to back; captioning wants the same images back in batch order
(grouped by size), at random. Each item's bytes are appended to an unnamed temporary
file as they are read and read back by (offset, length): memory holds none of them, and
the disk holds one shard at a time. `read` is safe from several decode threads.
"""

from __future__ import annotations

import os
import tempfile
import threading


class Spool:
    def __init__(self, folder: str | None = None) -> None:
        self._file = tempfile.TemporaryFile(prefix="vlm-spool-", dir=folder)
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

    def read(self, name: str) -> bytes:
        offset, length = self._where[name]
        with self._lock:
            self._file.flush()
            return os.pread(self._file.fileno(), length, offset)

    def close(self) -> None:
        self._file.close()
        self._where.clear()

    def __enter__(self) -> "Spool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
