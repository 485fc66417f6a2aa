"""Thumbnails for the report: each image shrunk to fit a square, as a JPEG data: URI."""

from __future__ import annotations

import base64
import io

THUMB_SIZE = 256


def thumbnail_uri(path: str, *, size: int = THUMB_SIZE) -> str | None:
    """A `data:image/jpeg;base64,...` URI, or None when the file cannot be read as an image."""
    from PIL import Image, ImageOps

    from vlmcli.media import heif
    from vlmcli.media.quiet import native_stderr_filtered

    try:
        with open(path, "rb") as file, native_stderr_filtered():
            heif.enable_for(file.read(64))
            file.seek(0)
            image = Image.open(file)
            image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale
            image = ImageOps.exif_transpose(image).convert("RGB")
            image.thumbnail((size, size))
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=80)
    except Exception:  # noqa: BLE001 - any unreadable file just has no preview
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
