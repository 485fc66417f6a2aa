"""What a camera raw file shows: its large embedded JPEG preview (`raw_preview.py` finds it),
turned by the raw's own orientation. `images.decode_image` opens it like any picture.

    size, refusal = raw_facts(data, "DSC_0001.NEF", "Nikon NEF")   # for the probe
    offset, turn = preview_start(data, "DSC_0001.NEF", "Nikon NEF")  # InputError when none is usable
"""

from __future__ import annotations

from vlmcli.errors import InputError
from vlmcli.media.raw_preview import JpegAt, largest_preview, orientation

MIN_PREVIEW_SIDE = 1000
"""A raw file's embedded preview is the photo when its longer side has at least this many
pixels (cameras embed 1616x1080 to full size; below are thumbnails of 160 to 640)."""


def raw_facts(data: bytes, name: str, raw: str) -> tuple[tuple[int, int] | None, str | None]:
    """((width, height) of the picture `decode_image` gives for the camera raw file `data`: its
    largest embedded preview, turned; or None) and why it gives none (or None): one search."""
    preview = largest_preview(data)
    if not _usable(preview):
        return None, _refusal(preview, name, raw)
    assert preview is not None
    turned = orientation(data) in (5, 6, 7, 8)
    return ((preview.height, preview.width) if turned else (preview.width, preview.height)), None


def preview_start(data: bytes, name: str, raw: str) -> tuple[int, int]:
    """(where the large preview's JPEG starts in `data`, the raw's EXIF orientation 1-8);
    `InputError` when the raw holds no usable preview."""
    preview = largest_preview(data)
    if not _usable(preview):
        raise InputError(_refusal(preview, name, raw))
    assert preview is not None
    return preview.offset, orientation(data)


def _usable(preview: JpegAt | None) -> bool:
    return preview is not None and max(preview.width, preview.height) >= MIN_PREVIEW_SIDE


def _refusal(preview: JpegAt | None, name: str, raw: str) -> str:
    held = f"only a {preview.width}x{preview.height} thumbnail" if preview is not None else "no preview Pillow can decode"
    return (
        f"{name} is a camera raw file ({raw}) holding {held}: export a JPEG or TIFF first "
        "(your raw editor, darktable-cli or rawtherapee-cli)."
    )
