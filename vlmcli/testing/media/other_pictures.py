"""Pictures in the formats other programs write that Pillow cannot save: Photoshop's PSD (a
merged picture plus layers) and an astronomy camera's FITS frame, written byte by byte from
the format specifications, so a test knows exactly what each holds.

    data = psd_bytes(photo, layers=[other])   # what Photoshop shows: `photo`; a layer: `other`
    data = fits_bytes(counts)                 # (H, W) int16 detector counts, BITPIX 16
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence

import numpy as np


def psd_bytes(merged: np.ndarray, *, layers: Sequence[np.ndarray] = ()) -> bytes:
    """A version-1 RGB PSD whose merged picture is `merged` (H, W, 3) uint8 and whose layers
    (each (h, w, 3) uint8, placed at the top left) are `layers`; raw (uncompressed) channels."""
    height, width, _ = merged.shape
    out = io.BytesIO()
    out.write(b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3))  # 3 channels, 8 bits, RGB
    out.write(struct.pack(">II", 0, 0))  # no colour mode data, no image resources
    section = _layer_section(layers) if layers else b""
    out.write(struct.pack(">I", len(section)) + section)
    out.write(struct.pack(">H", 0))  # the merged picture, raw, channel by channel
    for channel in range(3):
        out.write(np.ascontiguousarray(merged[..., channel]).tobytes())
    return out.getvalue()


def _layer_section(layers: Sequence[np.ndarray]) -> bytes:
    records, pixels = io.BytesIO(), io.BytesIO()
    records.write(struct.pack(">h", len(layers)))
    for layer in layers:
        height, width, _ = layer.shape
        records.write(struct.pack(">iiiiH", 0, 0, height, width, 3))  # top, left, bottom, right; 3 channels
        for channel in range(3):
            records.write(struct.pack(">hI", channel, 2 + height * width))
        records.write(b"8BIMnorm" + struct.pack(">BBBB", 255, 0, 0, 0))  # normal blending, opaque
        extra = struct.pack(">II", 0, 0) + b"\x05layer\x00\x00"  # no mask, no ranges; name padded to 4
        records.write(struct.pack(">I", len(extra)) + extra)
        for channel in range(3):
            pixels.write(struct.pack(">H", 0) + np.ascontiguousarray(layer[..., channel]).tobytes())
    info = records.getvalue() + pixels.getvalue()
    info += b"\x00" * (len(info) % 2)
    return struct.pack(">I", len(info)) + info + struct.pack(">I", 0)  # layer info, empty global mask


def fits_bytes(counts: np.ndarray) -> bytes:
    """A FITS primary image of `counts` (H, W) int16, as a CCD camera's software writes it."""
    height, width = counts.shape
    cards = [
        "SIMPLE  =                    T", "BITPIX  =                   16", "NAXIS   =                    2",
        f"NAXIS1  = {width:>20}", f"NAXIS2  = {height:>20}", "END",
    ]
    header = "".join(card.ljust(80) for card in cards).encode("ascii")
    header += b" " * (-len(header) % 2880)
    data = np.ascontiguousarray(counts.astype(">i2")).tobytes()
    return header + data + b"\x00" * (-len(data) % 2880)
