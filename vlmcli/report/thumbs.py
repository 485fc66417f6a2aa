"""Thumbnails for the report: each image (or a video's middle frame) shrunk to fit a square,
as a JPEG data: URI."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

THUMB_SIZE = 256


def thumbnail_uri(path: str, *, size: int = THUMB_SIZE) -> str | None:
    """A `data:image/jpeg;base64,...` URI, or None when the file cannot be read as an image
    or a video (`caption-dir --videos` rows show the frame in the middle of the video)."""
    try:
        with open(path, "rb") as file:
            head = file.read(64)
    except OSError:
        return None
    from vlmcli.media.kinds import MediaKind, detect_kind

    image = _video_frame(path, size) if detect_kind(path, head) is MediaKind.VIDEO else _image(path, head, size)
    if image is None:
        return None
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _image(path: str, head: bytes, size: int) -> "Image.Image | None":
    from PIL import Image, ImageOps

    from vlmcli.media import heif
    from vlmcli.media.quiet import native_stderr_filtered

    try:
        with open(path, "rb") as file, native_stderr_filtered():
            heif.enable_for(head)
            image = Image.open(file)
            image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale
            return ImageOps.exif_transpose(image).convert("RGB")
    except Exception:  # noqa: BLE001 - any unreadable file just has no preview
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
