"""Thumbnails for the report: each image (or a video's middle frame, or a dataset item read
from its shard) shrunk to fit a square, as a JPEG data: URI."""

from __future__ import annotations

import base64
import io
import os
import stat
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from PIL import Image

    from vlmcli.inputs.readings import ShardReadings

THUMB_SIZE = 256


def thumbnail_uri(path: str, *, size: int = THUMB_SIZE) -> str | None:
    """A `data:image/jpeg;base64,...` URI, or None when the file cannot be read as an image
    or a video (`caption-dir --videos` rows show the frame in the middle of the video). Only
    regular files are opened: a FIFO or a device at a row's path gets no thumbnail (opening a
    FIFO would wait for a writer forever)."""
    from vlmcli.errors import InputError
    from vlmcli.media.kinds import MediaKind, detect_kind
    from vlmcli.media.sources import open_regular

    if not _regular(path):
        return None  # a FIFO, a device, a folder (a row's file replaced since): opening could block
    try:
        with open_regular(path) as file:  # non-blocking open, checked again on the open file
            head = file.read(64)
            if detect_kind(path, head) is not MediaKind.VIDEO:
                file.seek(0)
                return _uri(_image(file, size, name=path), size)
    except (InputError, OSError):
        return None
    return _uri(_video_frame(path, size), size)


def _regular(path: str) -> bool:
    """Whether `path` is a regular file (after links), by stat alone: nothing is opened."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def item_thumbnails(
    wanted: Mapping[str, Collection[str]], readings: "ShardReadings | None" = None, *, size: int = THUMB_SIZE
) -> dict[tuple[str, str], str]:
    """Thumbnails of dataset items (caption-dir over tars, Parquet, CSV), read as the run read
    each shard (`readings`): {shard: the keys wanted from it} -> {(shard, key): URI}. Each
    shard is read once from the start, keeping only the wanted items' bytes, and no further
    than its last wanted item; a shard that is gone or damaged gives what was read before
    the damage."""
    from vlmcli.errors import VlmError
    from vlmcli.inputs.readings import ShardReadings

    found: dict[tuple[str, str], str] = {}
    for source, keys in wanted.items():
        remaining = set(keys)
        if not Path(source).exists():  # a file, or a save_to_disk folder
            continue
        try:
            for item in (readings or ShardReadings()).items(source):
                if item.key not in remaining:
                    continue
                remaining.discard(item.key)
                if item.data is not None and (uri := _item_uri(item.data, item.name, size)):
                    found[(source, item.key)] = uri
                if not remaining:
                    break
        except VlmError:
            continue
    return found


def _item_uri(data: bytes, name: str | None, size: int) -> str | None:
    """A dataset item's thumbnail: its picture, or a clip's middle frame (read from a
    temporary file: video decoders read files)."""
    from vlmcli.media.kinds import MediaKind, detect_kind

    if detect_kind(name or "", data[:64]) is not MediaKind.VIDEO:
        return _uri(_image(io.BytesIO(data), size, name=name or "item"), size)
    with tempfile.NamedTemporaryFile(prefix="vlm-thumb-") as clip:
        clip.write(data)
        clip.flush()
        return _uri(_video_frame(clip.name, size), size)


def _uri(image: "Image.Image | None", size: int) -> str | None:
    if image is None:
        return None
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _image(file: BinaryIO, size: int, *, name: str) -> "Image.Image | None":
    """The picture as the model was shown it (`decode_image`: upright, colour-managed,
    transparency on white, deep and astronomy pictures scaled), a JPEG decoded at a reduced scale."""
    from vlmcli.errors import VlmError
    from vlmcli.media.images import decode_image

    try:
        return decode_image(file.read(), name, draft=(size, size))  # the name tells a camera raw file
    except (VlmError, OSError):  # any unreadable file just has no preview
        return None


def _video_frame(path: str, size: int) -> "Image.Image | None":
    from PIL import Image

    from vlmcli.video.decode import probe, read_frames

    try:
        info = probe(path)
        frames = read_frames(path, [info.frame_count // 2], max_side=size, info=info)  # (1, h, w, 3)
        return Image.fromarray(frames.pixels[0])
    except Exception:  # noqa: BLE001 - a video that will not decode just has no preview
        return None
