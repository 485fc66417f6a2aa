"""The videos of the dataset shard being captioned (`caption-dir --videos` over tars and zips),
each in a temporary file of its own.

Video decoders (PyAV, decord, Pillow for animations) read files and seek in them, so a
video item's bytes cannot stay in the shard's one spool file (`spool.py`): each is
written to its own file in a temporary folder, read by name when its frames are sampled,
and removed with the folder when the shard is done. The disk holds one shard's videos at a
time. Files are named by their order in the shard: decoders tell formats by content.
`temporary_copy` does the same for one clip's bytes, for as long as a block runs (an item
named `<shard>::<key>` to `vlm ask`, a clip a Ray actor fetched).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from vlmcli.errors import VlmError


class ClipFiles:
    def __init__(self, folder: str | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="vlm-clips-", dir=folder)  # noqa: SIM115 - closed in close()
        self._files: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, name: str, data: bytes) -> str:
        """Write `name`'s bytes to a file of its own; its path."""
        with self._lock:
            path = self._files.get(name) or os.path.join(self._dir.name, f"clip{len(self._files):06d}")
            self._files[name] = path
        with open(path, "wb") as handle:
            handle.write(data)
        return path

    def file(self, name: str) -> str:
        """The file holding `name`'s bytes."""
        return self._files[name]

    def discard(self, name: str) -> None:
        """Remove `name`'s file now (a clip probed and not kept: Ray's read tasks)."""
        path = self._files.pop(name, None)
        if path is not None:
            os.unlink(path)

    def __contains__(self, name: str) -> bool:
        return name in self._files

    def close(self) -> None:
        self._files.clear()
        self._dir.cleanup()

    def __enter__(self) -> "ClipFiles":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def temporary_copy(data: bytes, source: str) -> Iterator[str]:
    """A temporary file holding `data` (the bytes of `source`), for as long as the block
    runs; a library error raised in it names `source`, not the file."""
    with tempfile.TemporaryDirectory(prefix="vlm-clips-") as folder:
        path = os.path.join(folder, "clip")
        with open(path, "wb") as handle:
            handle.write(data)
        try:
            yield path
        except VlmError as exc:
            exc.args = tuple(a.replace(path, source) if isinstance(a, str) else a for a in exc.args)
            raise
