"""The videos of the dataset shard being captioned (`caption-dir --videos` over tars and zips),
each in a temporary file of its own.

Video decoders (PyAV, decord, Pillow for animations) read files and seek in them, so a
video item's bytes cannot stay in the shard's one spool file (`spool.py`): each is
written to its own file in a temporary folder, read by name when its frames are sampled,
and removed with the folder when the shard is done. The disk holds one shard's videos at a
time. Files are named by their order in the shard: decoders tell formats by content.
"""

from __future__ import annotations

import os
import tempfile
import threading


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
