"""A camera raw file decoded as its photo: the large embedded JPEG preview (`raw_preview.py`
finds it), turned by the raw's own orientation, then made RGB like any picture (`images.py`).

    picture = raw_picture(data, "DSC_0001.NEF", "Nikon NEF", max_pixels=100_000_000)
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from vlmcli.errors import InputError
from vlmcli.media.color import to_srgb
from vlmcli.media.images import _DAMAGED, _check_pixels, _reason, to_rgb
from vlmcli.media.raw_preview import largest_preview, orientation

if TYPE_CHECKING:
    from PIL import Image

MIN_PREVIEW_SIDE = 1000
"""A raw file's embedded preview is the photo when its longer side has at least this many
pixels (cameras embed 1616x1080 to full size; below are thumbnails of 160 to 640)."""


def raw_preview_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of the picture `decode_image` gives for a camera raw file: its largest
    embedded preview, turned by the raw's orientation; None when it holds no usable one."""
    preview = largest_preview(data)
    if preview is None or max(preview.width, preview.height) < MIN_PREVIEW_SIDE:
        return None
    return (preview.height, preview.width) if orientation(data) in (5, 6, 7, 8) else (preview.width, preview.height)


def raw_refusal(data: bytes, name: str, raw: str) -> str | None:
    """Why the camera raw file `data` gives no picture (no preview of MIN_PREVIEW_SIDE px), or None."""
    preview = largest_preview(data)
    if preview is not None and max(preview.width, preview.height) >= MIN_PREVIEW_SIDE:
        return None
    held = f"only a {preview.width}x{preview.height} thumbnail" if preview is not None else "no preview Pillow can decode"
    return (
        f"{name} is a camera raw file ({raw}) holding {held}: export a JPEG or TIFF first "
        "(your raw editor, darktable-cli or rawtherapee-cli)."
    )


def raw_picture(data: bytes, name: str, raw: str, *, max_pixels: int | None) -> "Image.Image":
    """A camera raw file's photo: the large JPEG preview the camera embedded (`raw_preview.py`),
    turned as the raw's own orientation says."""
    from PIL import Image, ImageOps

    if (refusal := raw_refusal(data, name, raw)) is not None:
        raise InputError(refusal)
    preview = largest_preview(data)
    assert preview is not None
    _check_pixels((preview.width, preview.height), name, max_pixels)
    try:
        image = Image.open(io.BytesIO(data[preview.offset :]), formats=["JPEG"])
        image.load()
    except (*_DAMAGED, Image.UnidentifiedImageError) as exc:
        raise InputError(
            f"{name} is a camera raw file ({raw}) whose embedded preview is damaged ({_reason(exc)}); "
            "export a JPEG or TIFF first."
        ) from None
    turned = orientation(data)
    exif = image.getexif()
    if turned != 1 and exif.get(0x0112, 1) == 1:  # the preview says nothing: the raw's own orientation
        exif[0x0112] = turned
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - malformed EXIF, as for any picture
        pass
    return to_rgb(to_srgb(image))
