"""Interlaced video (broadcast TV, camcorder AVCHD, DV and VHS captures) shown as a player shows it.

An interlaced frame holds two fields, the even lines and the odd lines, captured 1/50 or
1/60 s apart. Read as one picture, everything that moves is combed: alternate lines of two
moments (a 1080i pan read at 384 px: mean error 5-7 of 255 against the scene; its first
field alone: 2-3). Players deinterlace; `open_video` wraps the reader of a stream flagged
interlaced (`StreamFacts.first_field`, from the codec's field order) in `FieldReader`,
which keeps the field shown first, the picture at the frame's timestamp, and scales it to
the frame's size. The decoder reads such a stream at full height (the width may already be
reduced), so scaling at decode time cannot blend the two fields first.

One field is half the lines: a 1080i frame keeps 540, more than the 432 a 768-pixel frame
shows, and a 576i one 288 where a 384-pixel frame shows 307. Motion-adaptive filters
(yadif, bwdif) keep a little more in still areas but need the neighbouring frames, which a
sparse reader does not decode.

    reader = FieldReader(PyAVReader(path, (384, 576)), Field.TOP, (384, 307))
    reader.read(indices)   # (N, 307, 384, 3), each row the top field of its frame
"""

from __future__ import annotations

import enum
from typing import Any

import numpy as np
from PIL import Image


class Field(str, enum.Enum):
    TOP = "top"
    BOTTOM = "bottom"


_SHOWN_FIRST = {2: Field.TOP, 3: Field.BOTTOM, 4: Field.BOTTOM, 5: Field.TOP}
"""ffmpeg's AVFieldOrder -> the field displayed first: TT (2) and BT (5, bottom coded first,
top displayed first) show the top one first, BB (3) and TB (4) the bottom one; 0 is
unknown, 1 progressive."""


def first_field(
    field_order: int | None, *, frame_interlaced: bool = False, codec: str = "", height: int = 0
) -> Field | None:
    """The field an interlaced stream shows first; None for progressive video. A stream whose
    field order is unknown (0) counts as interlaced when its first frame is flagged so: DV at
    standard definition (a camcorder tape's capture; ffmpeg states no order for it) shows the
    bottom field first, as the DV standard has it; anything else the top one (HD's order)."""
    order = int(field_order or 0)
    if order in _SHOWN_FIRST:
        return _SHOWN_FIRST[order]
    if order != 0 or not frame_interlaced:
        return None
    return Field.BOTTOM if codec == "dvvideo" and 0 < height <= 576 else Field.TOP


def full_height(size: tuple[int, int] | None, native: tuple[int, int]) -> tuple[int, int] | None:
    """The (width, height) to decode an interlaced stream at so that `size` can be made from
    one field: the width asked (or native), every line. None (native) when that is native."""
    decode = (size[0] if size is not None else native[0], native[1])
    return None if decode == native else decode


def keep_field(pixels: np.ndarray, field: Field, size: tuple[int, int]) -> np.ndarray:
    """uint8 (N, H, W, 3) interlaced frames -> (N, height, width, 3): each frame's `field`
    lines (every other one) scaled to `size` (width, height)."""
    lines = pixels[:, 0::2] if field is Field.TOP else pixels[:, 1::2]  # (N, H/2, W, 3)
    width, height = size
    out = np.empty((pixels.shape[0], height, width, 3), dtype=np.uint8)  # (N, height, width, 3)
    for row, picture in enumerate(lines):
        out[row] = np.asarray(Image.fromarray(np.ascontiguousarray(picture)).resize((width, height), Image.BILINEAR))
    return out


class FieldReader:
    """A `FrameReader` of an interlaced stream whose frames are each one field, scaled to
    `size` (None: the inner reader's size). `reader` must decode every line (`full_height`)."""

    def __init__(self, reader: Any, field: Field, size: tuple[int, int] | None) -> None:
        self._reader = reader
        self.field = field
        self.output_size = size if size is not None else tuple(reader.output_size)

    def read(self, indices: np.ndarray) -> np.ndarray:
        return keep_field(self._reader.read(indices), self.field, self.output_size)  # (N, H, W, 3)

    def __getattr__(self, name: str) -> Any:  # frame_count, fps, start_times, key_indices, decoder, ...
        return getattr(self._reader, name)
