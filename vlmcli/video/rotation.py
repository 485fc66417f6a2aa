"""Phone videos stand upright: the container's display rotation applied to decoded frames.

A phone records portrait video as landscape frames plus a display matrix ("rotate 90
degrees to show"); every player applies it. decord does too (sizes included), PyAV does not:
without this, every file PyAV reads (AV1, HEVC, MPEG-TS, ..., and every video on platforms
without decord) reached the model on its side. `open_video` reads the rotation
(`StreamFacts.rotation`, from the first decoded frame's display-matrix side data: PyAV
exposes no stream-level getter) and wraps PyAV readers in `RotatedReader`, so every caller,
samplers and scans included, gets frames as a player shows them. Checked against ffmpeg's
own autorotation, through both decoders (tests/test_video_rotation.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def quarter_turns(degrees: float) -> int:
    """Counter-clockwise quarter turns (0-3) for a display rotation in degrees (PyAV's
    `VideoFrame.rotation`: 90 -> 1, -90 -> 3, +-180 -> 2); other angles round to the nearest quarter."""
    return int(round(float(degrees) / 90.0)) % 4


def rotate(pixels: np.ndarray, turns: int) -> np.ndarray:
    """uint8 (N, H, W, 3) frames turned counter-clockwise `turns` quarter turns: (N, W, H, 3) for odd turns."""
    return np.ascontiguousarray(np.rot90(pixels, turns, axes=(1, 2))) if turns % 4 else pixels


def stored_size(size: tuple[int, int] | None, turns: int) -> tuple[int, int] | None:
    """The (width, height) to decode at so that frames are `size` once turned."""
    return (size[1], size[0]) if size is not None and turns % 2 else size


class RotatedReader:
    """A `FrameReader` whose frames come out turned by the container's display rotation."""

    def __init__(self, reader: Any, turns: int) -> None:
        self._reader = reader
        self.turns = turns % 4
        width, height = reader.output_size
        self.output_size = (height, width) if self.turns % 2 else (width, height)

    def read(self, indices: np.ndarray) -> np.ndarray:
        return rotate(self._reader.read(indices), self.turns)  # (N, H', W', 3)

    def __getattr__(self, name: str) -> Any:  # frame_count, fps, start_times, key_indices, decoder, ...
        return getattr(self._reader, name)
