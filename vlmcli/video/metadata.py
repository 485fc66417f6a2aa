"""What we know about a video before decoding any pixels, and the pure arithmetic on it.

Samplers plan against a `VideoInfo` (how many frames, how fast, how big) and never touch
the file, so they are unit-testable with a hand-written `VideoInfo`. Decode-time resizing
is computed here too (`fit_within`) because it is a rule about sizes, not about decoding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class VideoInfo:
    """Stream properties of one video file.

    path: the file, for messages; samplers never open it.
    fps: average frame rate of the video stream (frames per second, > 0).
    frame_count: frames the demuxer indexed (> 0). Frame indices run 0..frame_count-1.
    duration_s: seconds from the first frame's start to the last frame's end (> 0).
    width, height: native size in pixels of decoded frames, as displayed: the container's display
        rotation (a phone's portrait video) is applied (`video.rotation`).
    decoder: the backend that opened the file ("decord" or "pyav"); reported in `--json`.
    """

    path: str
    fps: float
    frame_count: int
    duration_s: float
    width: int
    height: int
    decoder: str = "decord"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be a positive number, got {self.fps!r}")
        if self.frame_count < 1:
            raise ValueError(f"frame_count must be >= 1, got {self.frame_count}")
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise ValueError(f"duration_s must be a positive number, got {self.duration_s!r}")
        if self.width < 1 or self.height < 1:
            raise ValueError(f"width and height must be >= 1, got {self.width}x{self.height}")

    def time_of(self, index: int) -> float:
        """Nominal start time (seconds) of frame `index`: index / fps.

        Decoded `Frames` carry the container's real presentation times instead; the two agree
        on constant-frame-rate video and may drift apart on variable-frame-rate video.
        """
        return index / self.fps


def fit_within(*, width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(width, height) scaled so the longer side is at most `max_side`, aspect kept.

    Only ever shrinks (a frame already small enough keeps its size); each side is rounded
    to the nearest pixel and kept >= 1. `max_side=None` means native size.

    >>> fit_within(width=640, height=272, max_side=64)
    (64, 27)
    """
    if width < 1 or height < 1:
        raise ValueError(f"width and height must be >= 1, got {width}x{height}")
    if max_side is None or max(width, height) <= max_side:
        return width, height
    if max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))
