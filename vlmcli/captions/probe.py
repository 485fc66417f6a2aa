"""Read each candidate once: is it an image (or a video), its content key (SHA-256), its size.

The key drives resume, de-duplication and `--shard`; the size (from the header, no pixel
decoding) drives batching. Files are probed in a thread pool (I/O and hashing release the
GIL). Full decoding happens later, in the prefetch workers.

Videos are recognised by content. Without `--videos` a video found by walking a folder is
skipped (counted in the summary) and one named explicitly becomes an error row. With
`--videos` a video is hashed in chunks (never read whole into memory) and opened with
decord for its properties (no frames decoded); a file decord cannot open becomes an error
row, like a corrupt image. With `--videos`, an animated GIF, WebP or APNG is a video too
(without it, its first frame is captioned as a picture).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from vlmcli.captions.discover import Candidate
from vlmcli.errors import InputError, VlmError
from vlmcli.media.images import raw_by_content
from vlmcli.media.raw_picture import raw_facts
from vlmcli.media.kinds import IMAGE_EXTENSIONS, MediaKind, camera_raw_format, detect_kind, is_pdf
from vlmcli.media.sources import folded, names_by_lower_case, open_regular, read_head, read_source
from vlmcli.video.metadata import VideoInfo

HEAD_BYTES = 64
HASH_CHUNK = 1 << 20  # videos are hashed 1 MiB at a time
SKIPPED_VIDEO = "skipped video"  # `_classify` result for a walked video without --videos
SKIPPED_DOCUMENT = "skipped document"  # ... for a walked PDF among pictures (--input-format pdf reads pages)


@dataclass(frozen=True)
class Probe:
    path: str
    key: str | None
    """SHA-256 of the bytes; None when the file could not be read."""
    size: tuple[int, int] | None
    """(width, height) from the header; None when unknown (then decoding will tell why)."""
    error: str | None = None
    """Why this file cannot be captioned at all (unreadable, a video); None if it may be."""
    kind: str = "image"
    """"image" or "video" (a video only with --videos)."""
    video: VideoInfo | None = None
    """The video's properties (kind "video" and readable)."""
    animated: bool = False
    """An animated GIF, WebP or APNG captioned as a picture (its first frame): no --videos."""
    undownloaded: bool = False
    """A dataset item img2dataset could not download (`ShardItem.undownloaded`): no row, counted apart."""


def header_size(data: bytes) -> tuple[int, int] | None:
    return header_facts(data)[0]


def header_facts(data: bytes) -> tuple[tuple[int, int] | None, bool]:
    """(width, height) from the header, or None; and whether it is an animation. One open."""
    from PIL import Image

    from vlmcli.media import heif
    from vlmcli.media.animation import moves
    from vlmcli.media.quiet import quiet_pillow

    quiet_pillow()  # a damaged TIFF's header warnings are for the decode to turn into one line
    heif.enable_for(data[:HEAD_BYTES])  # without the plugin the size stays unknown
    try:
        with Image.open(io.BytesIO(data)) as image:
            size = int(image.width), int(image.height)
            try:
                return size, moves(image)
            except Exception:  # noqa: BLE001 - a broken second frame: a picture (decoding reports it)
                return size, False
    except Exception:  # noqa: BLE001 - not an image, or a broken header: decoding reports it
        return None, False


DEVELOPED = frozenset({".jpg", ".jpeg", ".heic", ".heif", ".tif", ".tiff", ".png"})
"""What a camera (RAW+JPEG) or a raw editor writes beside a raw file under the same name."""


def developed_beside(path: str) -> bool:
    """Whether a picture with the raw file's name, in any case (IMG_0001.CR2 -> IMG_0001.JPG,
    .jpg, .Jpeg), is beside it."""
    folder, name = os.path.split(os.path.abspath(path))
    stem = folded(os.path.splitext(name)[0])
    listing = names_by_lower_case(folder)
    return any(stem + ext in listing for ext in DEVELOPED)


def _looks_like_image(path: str, head: bytes) -> bool:
    return detect_kind(path, head) is MediaKind.IMAGE or Path(path).suffix.lower() in IMAGE_EXTENSIONS


def probe_video(path: str) -> Probe:
    """A video's key (hashed in chunks) and properties; failures as the probe's `error`."""
    try:
        digest = hashlib.sha256()
        with open_regular(path) as handle:
            while chunk := handle.read(HASH_CHUNK):
                digest.update(chunk)
    except (InputError, OSError) as exc:
        return Probe(path, None, None, str(exc), kind="video")
    return video_probe(path, digest.hexdigest())


def video_probe(path: str, key: str, *, file: str | None = None) -> Probe:
    """The probe of video `path`, opened from `file` (a dataset item's bytes written out) or itself."""
    from vlmcli.video.decode import probe as probe_info

    try:
        info = probe_info(file or path)
    except VlmError as exc:
        message = str(exc).replace(file, path) if file else str(exc)
        return Probe(path, key, None, message, kind="video")
    return Probe(path, key, (info.width, info.height), kind="video", video=info)



def _classify(candidate: Candidate, *, videos: bool = False) -> Probe | str | None:
    """A `Probe`, `SKIPPED_VIDEO`, `SKIPPED_DOCUMENT`, or None for a found file that is neither
    image, video nor PDF."""
    path = candidate.path
    if candidate.error is not None:  # a folder walking could not list (`discover`)
        return Probe(path, None, None, candidate.error)
    if not candidate.explicit:
        try:
            head = read_head(path, HEAD_BYTES)  # refuses FIFOs and devices without blocking
        except InputError as exc:
            if Path(path).suffix.lower() not in IMAGE_EXTENSIONS:
                return None
            return Probe(path, None, None, str(exc))
        if detect_kind(path, head) is MediaKind.VIDEO:
            return probe_video(path) if videos else SKIPPED_VIDEO
        if is_pdf(head):
            return SKIPPED_DOCUMENT
        raw = camera_raw_format(path) is not None
        if not (raw or _looks_like_image(path, head)) or (raw and developed_beside(path)):
            return None  # a raw file beside its JPEG: the JPEG is the picture (a raw alone: its preview)
    elif videos:
        try:
            if detect_kind(path, read_head(path, HEAD_BYTES)) is MediaKind.VIDEO:
                return probe_video(path)
        except InputError:
            pass  # read_source below reports it
    try:
        data = read_source(path)
    except InputError as exc:
        return Probe(path, None, None, str(exc))
    key = hashlib.sha256(data).hexdigest()
    if detect_kind(path, data[:HEAD_BYTES]) is MediaKind.VIDEO:
        return Probe(path, key, None, f"{path} is a video; add --videos to caption videos too.", kind="video")
    if (raw := camera_raw_format(path) or raw_by_content(data)) is not None:  # its picture: the large preview
        return Probe(path, key, *raw_facts(data, path, raw))
    size, animated = header_facts(data)  # an animation: a clip with --videos, else its first frame
    if videos and animated:
        return video_probe(path, key)
    return Probe(path, key, size, animated=animated)


def probe(candidate: Candidate, *, videos: bool = False) -> Probe | None:
    """What we know of one file before decoding it; None for a found file that is skipped."""
    result = _classify(candidate, videos=videos)
    return result if isinstance(result, Probe) else None


@dataclass(frozen=True)
class ProbeCounts:
    ignored: int = 0
    """Found files that are neither images nor (with --videos) videos."""
    videos_skipped: int = 0
    """Videos found by walking, skipped because --videos was not given."""
    documents_skipped: int = 0
    """PDFs found by walking among pictures (`--input-format pdf` captions their pages)."""


def probe_all(
    candidates: Sequence[Candidate],
    *,
    threads: int,
    on_each: Callable[[], None] | None = None,
    videos: bool = False,
) -> tuple[list[Probe], ProbeCounts]:
    """(probes of the candidates to caption, in order; what was left out)."""
    probes: list[Probe] = []
    ignored = skipped = documents = 0
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="vlm-probe") as pool:
        for result in pool.map(partial(_classify, videos=videos), candidates):
            if result is None:
                ignored += 1
            elif result == SKIPPED_VIDEO:
                skipped += 1
            elif result == SKIPPED_DOCUMENT:
                documents += 1
            else:
                probes.append(result)  # type: ignore[arg-type]
            if on_each is not None:
                on_each()
    return probes, ProbeCounts(ignored=ignored, videos_skipped=skipped, documents_skipped=documents)
