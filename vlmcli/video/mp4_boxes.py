"""Why an MP4 or MOV that ffmpeg cannot open is damaged, read from its top-level boxes.

A phone or camera writes the frame data (`mdat`) first and the index (`moov`: where each
frame is, its size, its time) last, when recording stops. A copy or download cut short, or a
recording whose camera lost power, keeps the frames and loses the index, and ffmpeg then
says only "Invalid data found when processing input", which reads as "not a video". The
boxes tell what happened (checked, not guessed):

- a box runs past the end of the file, no `moov` before it: the file was cut short;
- every box is whole, `mdat` is there and `moov` is not: the recording was never finished;
- the `moov` itself runs past the end: cut short inside the index;
- `moof` fragments and no `moov`: a stream's segment (`.m4s`) without its init segment.

    damage = index_damage("clip.mp4")   # None when the boxes look whole (or it is no MP4/MOV)
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

FIRST_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot", b"styp"})
"""Box types an MP4 or QuickTime file starts with (QuickTime's may begin without `ftyp`)."""
MAX_BOXES = 10_000
"""Top-level boxes looked at (a fragmented MP4 has two per fragment; enough to find the index)."""


@dataclass(frozen=True)
class Box:
    kind: str
    start: int
    end: int
    """Where the box says it ends (past the file's end when the file was cut short)."""


def top_level_boxes(handle: BinaryIO, size: int) -> list[Box]:
    """The top-level boxes of an ISO-BMFF file of `size` bytes, in order; empty when the file
    does not start like an MP4/MOV. Stops at the first box that runs past the end (kept) or
    whose header cannot be read."""
    boxes: list[Box] = []
    at = 0
    while at + 8 <= size and len(boxes) < MAX_BOXES:
        handle.seek(at)
        length, kind = struct.unpack(">I4s", handle.read(8))
        header = 8
        if length == 1:  # a 64-bit size follows
            if at + 16 > size:
                break
            (length,) = struct.unpack(">Q", handle.read(8))
            header = 16
        elif length == 0:  # the box runs to the end of the file (a recording not finished)
            length = size - at
        if (not boxes and kind not in FIRST_BOXES) or length < header or not all(32 <= c < 127 for c in kind):
            break  # not a box: the walk ends here, short of the file's end (nothing is claimed then)
        boxes.append(Box(kind.decode("latin-1"), at, at + length))
        at += length
    return boxes


def index_damage(path: str) -> str | None:
    """A clause saying how the MP4/MOV at `path` lost its index, or None when its boxes do
    not show it (whole, not an MP4/MOV, or unreadable)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            boxes = top_level_boxes(handle, size)
    except OSError:
        return None
    return describe(boxes, size)


def describe(boxes: list[Box], size: int) -> str | None:
    """The clause for `index_damage` from the boxes of a file of `size` bytes. Pure."""
    if not boxes or boxes[0].kind not in {b.decode() for b in FIRST_BOXES} or boxes[-1].end < size:
        return None  # not an MP4/MOV, or boxes that do not run to the end: what is missing is unknown
    index = next((b for b in boxes if b.kind == "moov"), None)
    cut = next((b for b in boxes if b.end > size), None)
    if index is not None:
        if index.end > size:
            return f"it was cut short inside its index (the moov box runs to byte {index.end:,}, the file ends at {size:,})"
        return None
    if any(b.kind == "moof" for b in boxes):
        return "it is a fragment of a stream (moof boxes) without the init segment that holds its index (moov box)"
    if cut is not None:
        return (
            f"it was cut short: its {cut.kind} box runs to byte {cut.end:,} but the file ends at {size:,}, "
            "before the index (moov box) that comes last; an interrupted copy or download: fetch it again"
        )
    if any(b.kind == "mdat" for b in boxes):
        return (
            "it has frame data but no index (moov box): the recording was never finished (the camera "
            "or app stopped before writing it); untrunc can rebuild one from a good file of the same camera"
        )
    return "it holds neither an index (moov box) nor frame data (mdat box)"


def is_init_segment(path: str) -> bool:
    """Whether the MP4 at `path` is a fragmented stream's init segment (`init.mp4` of an HLS or
    DASH download: an index that announces fragments, `mvex`, and no frames of its own)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            boxes = top_level_boxes(handle, size)
            index = next((b for b in boxes if b.kind == "moov" and b.end <= size), None)
            if index is None or any(b.kind in ("moof", "mdat") for b in boxes):
                return False
            handle.seek(index.start)
            return b"mvex" in handle.read(min(index.end - index.start, 1 << 20))
    except OSError:
        return False
