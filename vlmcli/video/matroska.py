"""A Matroska/WebM file cut short, told from its first bytes.

A Matroska file is an EBML header element, then one Segment element whose size is written
in its header (or "unknown", all ones, while a recorder is still writing it). A copy or
download cut short keeps that size, so the segment runs past the end of the file. decord
and ffmpeg read such a file as a shorter video without a word: a 60 s clip cut in half was
answered about its first 28 s. Matroska has no frame count to compare (`check_whole` needs
one), so the segment's size is the check. Pure parsing of the first few dozen bytes.
"""

from __future__ import annotations

import os

EBML_ID = b"\x1a\x45\xdf\xa3"
SEGMENT_ID = b"\x18\x53\x80\x67"


def _vint(data: bytes, at: int) -> tuple[int | None, int]:
    """(value, length) of the EBML variable-size integer at `at`; value None for "unknown"
    (all value bits set). ValueError when it is not one."""
    if at >= len(data) or data[at] == 0:
        raise ValueError("not an EBML size")
    length = 8 - data[at].bit_length() + 1
    if at + length > len(data):
        raise ValueError("cut inside an EBML size")
    value = data[at] & (0xFF >> length)
    for byte in data[at + 1 : at + length]:
        value = (value << 8) | byte
    return (None if value == (1 << (7 * length)) - 1 else value), length


def segment_end(head: bytes) -> int | None:
    """The byte the Segment ends at, from the file's first bytes (>= 64 is plenty); None when
    this is not Matroska, the size is unknown (a live recording), or the bytes do not say."""
    try:
        if not head.startswith(EBML_ID):
            return None
        size, length = _vint(head, 4)
        if size is None:
            return None
        at = 4 + length + size  # the Segment follows the EBML header element
        if head[at : at + 4] != SEGMENT_ID:
            return None
        size, length = _vint(head, at + 4)
        return None if size is None else at + 4 + length + size
    except ValueError:
        return None


def cut_short(path: str) -> str | None:
    """A clause saying how the Matroska/WebM file at `path` was cut short, or None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(256)
        size = os.path.getsize(path)
    except OSError:
        return None
    end = segment_end(head)
    if end is None or end <= size:
        return None
    return (
        f"it was cut short: its Matroska segment runs to byte {end:,} but the file ends at {size:,} "
        f"({size / end:.0%} of it); an interrupted copy or download: fetch it again"
    )
