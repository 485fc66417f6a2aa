"""What a TIFF holds, read from its first directory: to explain a TIFF Pillow will not open.

Scientific and imaging programs (tifffile, ImageJ, GDAL, microscope and astronomy software)
write TIFFs whose pixels Pillow has no mode for: several 32-bit floating-point samples per
pixel, 64-bit floats, 32-bit integer colour. Pillow then says only "cannot identify image
file", as it does for a broken file, and telling the two apart needs the header. Pure: bytes
in, a small record out; classic TIFF and BigTIFF, either byte order.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

BITS_PER_SAMPLE, SAMPLES_PER_PIXEL, SAMPLE_FORMAT = 258, 277, 339
_KINDS = {1: "unsigned integer", 2: "signed integer", 3: "floating-point", 4: "untyped", 5: "complex integer", 6: "complex floating-point"}
_TYPES = {1: ("B", 1), 3: ("H", 2), 4: ("I", 4), 16: ("Q", 8)}  # BYTE, SHORT, LONG, LONG8


@dataclass(frozen=True)
class TiffLayout:
    """The first image's pixel layout.

    samples: values per pixel (1 grey, 3 RGB, 4 RGBA or CMYK, more for multispectral).
    bits: bits per sample (of the first sample).
    kind: SampleFormat: 1 unsigned, 2 signed, 3 floating point (TIFF's default is 1).
    """

    samples: int
    bits: int
    kind: int

    @property
    def ordinary(self) -> bool:
        """A layout Pillow reads: 1/8/16-bit unsigned, or one 32-bit float or signed sample."""
        if self.kind in (1, 4) and self.bits in (1, 2, 4, 8, 16):
            return True
        return self.samples == 1 and self.bits == 32 and self.kind in (2, 3)

    def describe(self) -> str:
        """E.g. "3 samples of 32-bit floating-point per pixel"."""
        kind = _KINDS.get(self.kind, f"format-{self.kind}")
        per = "1 sample" if self.samples == 1 else f"{self.samples} samples"
        return f"{per} of {self.bits}-bit {kind} per pixel"


def tiff_layout(data: bytes) -> TiffLayout | None:
    """The layout of the first image in the TIFF `data`, or None when it is not a TIFF or its
    header is unreadable (truncated, offsets out of range)."""
    try:
        return _parse(data)
    except (struct.error, IndexError, ValueError, OverflowError):
        return None


def _parse(data: bytes) -> TiffLayout | None:
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None:
        return None
    (magic,) = struct.unpack_from(order + "H", data, 2)
    if magic == 42:  # classic: entries (H), each tag H, type H, count I, value-or-offset I
        (ifd,) = struct.unpack_from(order + "I", data, 4)
        entries_fmt, word, value_at = "H", "I", 8
    elif magic == 43:  # BigTIFF: entries (Q), each tag H, type H, count Q, value-or-offset Q
        (ifd,) = struct.unpack_from(order + "Q", data, 8)
        entries_fmt, word, value_at = "Q", "Q", 12
    else:
        return None
    slot = struct.calcsize(word)  # bytes of a value kept inside its entry
    entry = value_at + slot
    (entries,) = struct.unpack_from(order + entries_fmt, data, ifd)
    start = ifd + struct.calcsize(entries_fmt)
    tags: dict[int, int] = {}
    if start + int(entries) * entry > len(data):  # the directory runs past the end: truncated or bogus
        return None
    for n in range(int(entries)):
        at = start + n * entry
        tag, kind = struct.unpack_from(order + "HH", data, at)
        if tag not in (BITS_PER_SAMPLE, SAMPLES_PER_PIXEL, SAMPLE_FORMAT) or kind not in _TYPES:
            continue
        fmt, size = _TYPES[kind]
        (count,) = struct.unpack_from(order + word, data, at + 4)
        if count * size <= slot:  # the value sits in the entry
            (value,) = struct.unpack_from(order + fmt, data, at + value_at)
        else:  # the entry holds the offset of the values: the first one is enough
            (offset,) = struct.unpack_from(order + word, data, at + value_at)
            (value,) = struct.unpack_from(order + fmt, data, offset)
        tags[tag] = int(value)
    return TiffLayout(
        samples=tags.get(SAMPLES_PER_PIXEL, 1), bits=tags.get(BITS_PER_SAMPLE, 1), kind=tags.get(SAMPLE_FORMAT, 1)
    )
