"""Camera raw files laid out as the makers lay them out, built from a photo, for tests. No real
raw file can be fetched here; these follow the formats' published layouts in what the reader
relies on: a TIFF-based raw (Nikon NEF, Sony ARW, Canon CR2, DNG) starts with a TIFF
directory holding a small thumbnail and the orientation, its sensor data may be lossless JPEG
(SOF3, CR2's and DNG's), and a large baseline JPEG preview sits elsewhere in the file; Canon's
CR3 is ISO-BMFF (`ftyp crx `) with its previews in boxes.

    data = tiff_raw(photo, orientation=6)   # the preview is `photo` at 1600 px, shown turned
"""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image

PREVIEW_SIDE = 1600


def jpeg(picture: Image.Image, *, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def preview_of(photo: Image.Image, side: int = PREVIEW_SIDE) -> Image.Image:
    """The large preview a camera embeds: the photo at `side` pixels on its longer side."""
    scale = side / max(photo.size)
    return photo.convert("RGB").resize((round(photo.width * scale), round(photo.height * scale)))


def _lossless_sensor_data(width: int = 6000, height: int = 4000, size: int = 200_000) -> bytes:
    """A lossless-JPEG (SOF3) start, as CR2 and DNG code their sensor data, then noise: larger
    than any preview, and no picture Pillow decodes."""
    frame = struct.pack(">HBHHB", 8 + 3 * 2, 14, height, width, 2) + b"\x01\x11\x00\x02\x11\x00"
    noise = np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes()
    return b"\xff\xd8\xff\xc3" + frame + noise


def tiff_raw(photo: Image.Image, *, orientation: int = 1, preview_side: int = PREVIEW_SIDE) -> bytes:
    """A TIFF-based raw: first directory a 160x120 RGB thumbnail with `orientation`, then the
    sensor data, then the large JPEG preview (as NEF's and ARW's previews follow the thumbnail)."""
    thumbnail = io.BytesIO()
    photo.convert("RGB").resize((160, 120)).save(thumbnail, format="TIFF", tiffinfo={274: orientation, 254: 1})  # 254: reduced resolution
    return thumbnail.getvalue() + _lossless_sensor_data() + jpeg(preview_of(photo, preview_side)) + b"\x00" * 64


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def cr3_raw(photo: Image.Image) -> bytes:
    """Canon's CR3: `ftyp crx `, a 160 px thumbnail in the movie header, the 1620 px preview in
    its own box (PRVW), the sensor data in `mdat`."""
    ftyp = _box(b"ftyp", b"crx " + struct.pack(">I", 1) + b"crx isom")
    thumbnail = _box(b"uuid", b"\x85\xc0\xb6\x87\x82\x0f\x11\xe0\x81\x11\xf4\xce\x46\x2b\x6a\x48" + jpeg(photo.resize((160, 120))))
    preview = _box(b"uuid", b"\xea\xf4\x2b\x5e\x1c\x98\x4b\x88\xb9\xfb\xb7\xdc\x40\x6e\x4d\x16" + _box(b"PRVW", jpeg(preview_of(photo, 1620))))
    return ftyp + _box(b"moov", thumbnail) + preview + _box(b"mdat", _lossless_sensor_data()[4:])
