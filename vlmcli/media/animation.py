"""Is a picture file an animation? GIF, WebP, PNG (APNG) and AVIF can hold several frames.

`ask` and `describe` read an animated picture as a video (its frames sampled like any
clip's, `video/decode_pillow.py`), so "what happens in this GIF?" is answered from its
motion, not from frame one. Multi-frame TIFFs (document pages) and MPO JPEGs (a camera's
stereo pair or preview) are not animations and stay pictures. Checked from the header
alone where the format allows (WebP, APNG), and from the second frame's start for GIF.
"""

from __future__ import annotations

import io
from typing import Any

ANIMATED_FORMATS = ("GIF", "WEBP", "PNG", "AVIF")
_MAGIC = {b"GIF87a": "GIF", b"GIF89a": "GIF", b"\x89PNG\r\n\x1a\n": "PNG"}


def picture_format(head: bytes) -> str | None:
    """"GIF", "WEBP", "PNG" or "AVIF" when `head` (a file's first 16 bytes) starts one of the picture
    formats that can hold an animation, else None. Pure."""
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in (b"avis", b"avif"):
        return "AVIF"  # an AVIF image sequence's brand is avis (ffmpeg, libavif's avifenc)
    return next((name for magic, name in _MAGIC.items() if head.startswith(magic)), None)


def first_frame(image: Any) -> int:
    """The index of an open Pillow image's first animation frame: 1 for an APNG whose first
    picture is a still fallback outside the animation (its `default_image`, shown only by
    viewers that cannot animate), else 0."""
    fallback = image.format == "PNG" and bool(getattr(image, "default_image", False))
    return 1 if fallback and int(getattr(image, "n_frames", 1)) > 1 else 0


def animation_frames(image: Any) -> int:
    """How many frames the animation of an open Pillow image has (an APNG's fallback left out)."""
    return int(getattr(image, "n_frames", 1)) - first_frame(image)


def moves(image: Any) -> bool:
    """Whether an open Pillow image is an animation: a GIF, WebP, APNG or AVIF of 2+ frames
    (a multi-page TIFF or an MPO's second picture is not)."""
    return image.format in ANIMATED_FORMATS and bool(getattr(image, "is_animated", False)) and animation_frames(image) > 1


def frame_count(data: bytes) -> int:
    """How many frames the GIF/WebP/PNG/AVIF in `data` holds: 1 for any other or unreadable file
    (decoding it as a picture then says what is wrong)."""
    if picture_format(data[:16]) is None:
        return 1
    from PIL import Image

    from vlmcli.media.quiet import quiet_pillow

    quiet_pillow()  # a picture past Pillow's own bomb threshold (89 MP) but within ours: no warning on stderr
    try:
        with Image.open(io.BytesIO(data), formats=list(ANIMATED_FORMATS)) as image:
            return animation_frames(image) if moves(image) else 1
    except Exception:  # noqa: BLE001 - a damaged file: the picture decoder explains it
        return 1


def tiff_pages(data: bytes) -> int:
    """How many pages (images) the TIFF in `data` holds: a fax or a scanner's multi-page file;
    1 for any other or unreadable file."""
    if not data.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return 1
    from PIL import Image

    from vlmcli.media.quiet import quiet_pillow

    quiet_pillow()
    try:
        with Image.open(io.BytesIO(data), formats=["TIFF"]) as image:
            return int(getattr(image, "n_frames", 1))
    except Exception:  # noqa: BLE001 - a damaged file: the picture decoder explains it
        return 1
