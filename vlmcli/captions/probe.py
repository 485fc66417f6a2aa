"""Read each candidate once: is it an image, its content key (SHA-256) and its size.

The key drives resume, de-duplication and `--shard`; the size (from the header, no pixel
decoding) drives batching. Files are probed in a thread pool (I/O and hashing release the
GIL). Full decoding happens later, in the prefetch workers.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from vlmcli.captions.discover import IMAGE_EXTENSIONS, Candidate
from vlmcli.errors import InputError
from vlmcli.media.kinds import MediaKind, detect_kind
from vlmcli.media.sources import read_source

HEAD_BYTES = 64


@dataclass(frozen=True)
class Probe:
    path: str
    key: str | None
    """SHA-256 of the bytes; None when the file could not be read."""
    size: tuple[int, int] | None
    """(width, height) from the header; None when unknown (then decoding will tell why)."""
    error: str | None = None
    """Why this file cannot be captioned at all (unreadable, a video); None if it may be."""


def header_size(data: bytes) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return int(image.width), int(image.height)
    except Exception:  # noqa: BLE001 - not an image, or a broken header: decoding reports it
        return None


def _looks_like_image(path: str, head: bytes) -> bool:
    kind = detect_kind(path, head)
    if kind is MediaKind.VIDEO:
        return False
    return kind is MediaKind.IMAGE or Path(path).suffix.lower() in IMAGE_EXTENSIONS


def probe(candidate: Candidate) -> Probe | None:
    """What we know of one file before decoding it; None for a found file that is not an image."""
    path = candidate.path
    if not candidate.explicit:
        try:
            with open(path, "rb") as handle:
                head = handle.read(HEAD_BYTES)
        except OSError as exc:
            if Path(path).suffix.lower() not in IMAGE_EXTENSIONS:
                return None
            return Probe(path, None, None, f"Cannot read {path}: {exc.strerror or exc}.")
        if not _looks_like_image(path, head):
            return None
    try:
        data = read_source(path)
    except InputError as exc:
        return Probe(path, None, None, str(exc))
    key = hashlib.sha256(data).hexdigest()
    if detect_kind(path, data[:HEAD_BYTES]) is MediaKind.VIDEO:
        return Probe(path, key, None, f"{path} is a video; caption-dir captions images only.")
    return Probe(path, key, header_size(data))


def probe_all(
    candidates: Sequence[Candidate], *, threads: int, on_each: Callable[[], None] | None = None
) -> tuple[list[Probe], int]:
    """(probes of the image-like candidates in order, number of files ignored)."""
    probes: list[Probe] = []
    ignored = 0
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="vlm-probe") as pool:
        for result in pool.map(probe, candidates):
            if result is None:
                ignored += 1
            else:
                probes.append(result)
            if on_each is not None:
                on_each()
    return probes, ignored
