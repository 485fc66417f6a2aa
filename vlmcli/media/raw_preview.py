"""The picture inside a camera raw file: its largest embedded JPEG preview. Pure: bytes in.

Every raw format (NEF, CR2, CR3, ARW, DNG, ORF, RW2, RAF, PEF, ...) stores, beside the
sensor data, JPEG previews the camera rendered: a thumbnail (NEF's is 160x120, and it is
what Pillow shows when it opens a TIFF-based raw as a TIFF) and a large one (1616x1080 to
full size) that the camera's screen and photo browsers show. A vision model downscales to a
megapixel or two, so the large preview is the photo for it. Where the previews sit differs
by maker (TIFF sub-directories, JPEGInterchangeFormat tags, CR3 boxes, RAF's header), but
each is a plain baseline or progressive JPEG; the sensor data that is JPEG-coded is lossless
JPEG (SOF3), which is skipped. So the file is searched for JPEG starts, each one's frame
header is read, and the largest ordinary JPEG wins.

The preview carries no orientation of its own; a TIFF-based raw's first directory does
(`orientation`), as the camera recorded it.

    found = largest_preview(data)      # JpegAt(offset, width, height) or None
    picture = Image.open(io.BytesIO(data[found.offset:]))
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

MAX_CANDIDATES = 256
"""JPEG starts looked at (a raw holds a handful; random sensor data may mimic a few more)."""
ORDINARY_SOF = {0xC0, 0xC1, 0xC2}
"""Baseline, extended and progressive Huffman JPEG: what the previews are and Pillow decodes."""
_OTHER_SOF = {0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_TIFF_STARTS = (b"II*\x00", b"MM\x00*", b"IIRO", b"IIRS", b"IIU\x00")  # TIFF, Olympus ORF (2), Panasonic RW2
ORIENTATION = 0x0112


@dataclass(frozen=True)
class JpegAt:
    offset: int
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def embedded_jpegs(data: bytes) -> list[JpegAt]:
    """The ordinary JPEGs that start in `data`, in file order, by their frame headers."""
    found: list[JpegAt] = []
    at, looked = data.find(b"\xff\xd8\xff"), 0
    while at >= 0 and looked < MAX_CANDIDATES:
        looked += 1
        frame = _frame_size(data, at + 2)
        if frame is not None:
            found.append(JpegAt(at, *frame))
        at = data.find(b"\xff\xd8\xff", at + 3)
    return found


def largest_preview(data: bytes) -> JpegAt | None:
    """The embedded JPEG with the most pixels; None when the file holds none."""
    return max(embedded_jpegs(data), key=lambda j: (j.pixels, -j.offset), default=None)


def _segments(data: bytes, at: int) -> Iterator[tuple[int, int, int]]:
    """(marker code, its position, its segment length) of a JPEG's header segments from `at`
    (just after SOI) up to and including the first frame or scan header; stops at bytes that
    are no marker."""
    for _ in range(256):  # APPn, DQT, DHT, ... come before the frame and scan headers
        if at + 4 > len(data) or data[at] != 0xFF:
            return
        code = data[at + 1]
        if code == 0xFF:  # fill byte
            at += 1
            continue
        (length,) = struct.unpack_from(">H", data, at + 2)
        yield code, at, length
        if length < 2:
            return
        at += 2 + length


def _frame_size(data: bytes, at: int) -> tuple[int, int] | None:
    """(width, height) from the SOF segment of the JPEG whose markers start at `at`; None for a
    lossless or arithmetic-coded one, or bytes that only look like a JPEG start."""
    for code, where, _length in _segments(data, at):
        if code in ORDINARY_SOF:
            if where + 9 > len(data):
                return None
            height, width = struct.unpack_from(">HH", data, where + 5)
            return (width, height) if width and height else None
        if code in _OTHER_SOF or code in (0xDA, 0xD9):
            return None
    return None


def orientation(data: bytes) -> int:
    """The EXIF orientation (1-8) in a TIFF-based raw's first directory; 1 when it has none
    (or the file is not TIFF-based: CR3, RAF)."""
    value = _first_directory(data).get(ORIENTATION, 1) if data.startswith(_TIFF_STARTS) else 1
    return value if 1 <= value <= 8 else 1


def preview_bytes(data: bytes) -> bytes | None:
    """The largest embedded preview's JPEG, byte for byte (to its end-of-image marker); None
    when there is none or it has no end. Entropy-coded data never holds FF D9 (an FF there is
    followed by 00 or a restart marker), so the first one after the scan starts ends it."""
    found = largest_preview(data)
    if found is None:
        return None
    for code, where, length in _segments(data, found.offset + 2):
        if code == 0xDA:  # the first scan: its data runs to the end-of-image marker
            end = data.find(b"\xff\xd9", where + 2 + length)
            return data[found.offset : end + 2] if end >= 0 else None
    return None


NEW_SUBFILE_TYPE, DNG_VERSION = 0x00FE, 0xC612
_SIGNATURES = (
    (lambda d: d[4:12] == b"ftypcrx ", "Canon CR3"),
    (lambda d: d.startswith(b"FUJIFILMCCD-RAW"), "Fujifilm RAF"),
    (lambda d: d.startswith((b"IIRO", b"IIRS")), "Olympus ORF"),
    (lambda d: d.startswith(b"IIU\x00"), "Panasonic RW2"),
    (lambda d: d.startswith(b"II*\x00") and d[8:10] == b"CR", "Canon CR2"),
)


def raw_signature(data: bytes) -> str | None:
    """The camera raw format `data` is, told by its bytes (a dataset item, standard input, a
    file named otherwise): a maker's own mark, a DNG's version tag, or a TIFF whose first
    image is a reduced-resolution one (NEF, ARW, PEF: the thumbnail first) holding a larger
    JPEG preview. None for anything else, an ordinary TIFF included."""
    for matches, name in _SIGNATURES:
        if matches(data):
            return name
    if not data.startswith((b"II*\x00", b"MM\x00*")):
        return None
    tags = _first_directory(data)
    if DNG_VERSION in tags:
        return "DNG"
    preview = largest_preview(data) if tags.get(NEW_SUBFILE_TYPE, 0) & 1 else None
    return "camera raw" if preview is not None and max(preview.width, preview.height) >= 1000 else None


def _first_directory(data: bytes) -> dict[int, int]:
    """tag -> value (or offset) of the entries of a TIFF's first directory; empty when unreadable."""
    order = "<" if data[:2] == b"II" else ">"
    found: dict[int, int] = {}
    try:
        (first,) = struct.unpack_from(order + "I", data, 4)
        (count,) = struct.unpack_from(order + "H", data, first)
        for entry in range(min(count, 512)):
            tag, kind, _n = struct.unpack_from(order + "HHI", data, first + 2 + 12 * entry)
            fmt = "H" if kind == 3 else "I"
            (found[tag],) = struct.unpack_from(order + fmt, data, first + 2 + 12 * entry + 8)
    except struct.error:
        pass
    return found
