"""What we know about a video before decoding any pixels, and the pure arithmetic on it.

Samplers plan against a `VideoInfo` (how many frames, how fast, how big) and never touch
the file, so they are unit-testable with a hand-written `VideoInfo`. Decode-time resizing
is computed here too (`fit_within`) because it is a rule about sizes, not about decoding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

START_MIN_S = 0.1
"""A video stream starting less than this after the file's start counts as starting at 0: the
times shown are to a tenth of a second, and audio priming shifts streams by ~20 ms."""

DRIFT_FRAMES = 0.5
"""A video is variable-frame-rate when some frame starts more than this many nominal frame
intervals away from index / fps."""


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
    frame_times: start time in seconds of every frame (frame_count,), from 0, non-decreasing,
        for a variable-frame-rate video only (`variable_rate_times`): phone footage, screen and
        meeting recordings, where frames come faster in motion than in still parts and
        index / fps drifts from the real time by seconds or minutes. None for constant-rate
        video, where index / fps is the time.
    start_s: where frame 0 starts on the file's timeline, in seconds after the container's
        start (`stream_facts.StreamFacts.start_s`): > 0 when the picture starts after the audio
        or the file was cut mid-GOP. Every time above (and `time_of`) counts from frame 0, so
        planning is unchanged; what is *reported* (frame times in --json, video-summarize's
        segments and the times its prompts give the model) adds `start_s`, so it matches what
        a player and subtitles show. 0 below `START_MIN_S`.
    """

    path: str
    fps: float
    frame_count: int
    duration_s: float
    width: int
    height: int
    decoder: str = "decord"
    frame_times: "np.ndarray | None" = field(default=None, compare=False, repr=False)
    start_s: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be a positive number, got {self.fps!r}")
        if self.frame_count < 1:
            raise ValueError(f"frame_count must be >= 1, got {self.frame_count}")
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise ValueError(f"duration_s must be a positive number, got {self.duration_s!r}")
        if not (math.isfinite(self.start_s) and self.start_s >= 0):
            raise ValueError(f"start_s must be a number >= 0, got {self.start_s!r}")
        if self.width < 1 or self.height < 1:
            raise ValueError(f"width and height must be >= 1, got {self.width}x{self.height}")
        if self.frame_times is not None:
            import numpy as np

            times = np.array(self.frame_times, dtype=np.float64)  # (F,) a private, read-only copy
            if times.shape != (self.frame_count,) or not np.isfinite(times).all():
                raise ValueError(f"frame_times must be {self.frame_count} finite times, got shape {times.shape}")
            if times[0] != 0 or (np.diff(times) < 0).any():
                raise ValueError("frame_times must start at 0 and never decrease")
            times.setflags(write=False)
            object.__setattr__(self, "frame_times", times)

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-able fields (`VideoInfo(**d)` rebuilds it): frame times as a list."""
        times = None if self.frame_times is None else [float(t) for t in self.frame_times]
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"frame_times": times}

    def start_note(self) -> str | None:
        """One sentence when frame 0 is not at the file's start (`start_s`), else None."""
        if self.start_s <= 0:
            return None
        return (
            f"the video's first picture is {self.start_s:.1f} s into the file (its video starts after its "
            "audio, or the file was cut before a keyframe and the pictures before it cannot be decoded); "
            "times are given on the file's timeline, as a player shows them"
        )

    @property
    def variable_rate(self) -> bool:
        return self.frame_times is not None

    def time_of(self, index: int) -> float:
        """Start time (seconds) of frame `index`: its real time on a variable-frame-rate video,
        index / fps otherwise (the same as the decoded `Frames` timestamps either way)."""
        if self.frame_times is not None:
            return float(self.frame_times[index])
        return index / self.fps

    def boundary_time(self, index: int) -> float:
        """Time (seconds) of the boundary before frame `index`, 0 <= index <= frame_count: the
        frame's start, and for index == frame_count the end of the video. index / fps on
        constant-rate video."""
        if self.frame_times is None:
            return index / self.fps
        return self.duration_s if index >= self.frame_count else float(self.frame_times[index])

    def index_at(self, seconds: float) -> int:
        """The frame on screen at `seconds`: the last one starting at or before it (clamped)."""
        if self.frame_times is None:
            return min(self.frame_count - 1, max(0, math.floor(seconds * self.fps)))
        import numpy as np

        return max(0, int(np.searchsorted(self.frame_times, seconds, side="right")) - 1)

    def screen_shares(self) -> "np.ndarray | None":
        """(frame_count,) the fraction of the running time each frame is on screen, summing to 1,
        on a variable-rate video; None on a constant-rate one, where every share is 1 / frame_count."""
        if self.frame_times is None:
            return None
        import numpy as np

        ends = np.append(self.frame_times[1:], max(self.duration_s, float(self.frame_times[-1])))  # (F,)
        shown = ends - self.frame_times  # (F,) seconds
        total = float(shown.sum())
        return shown / total if total > 0 else np.full(self.frame_count, 1.0 / self.frame_count)

    def nominal_index(self, index: int) -> int:
        """Frame `index` on the nominal clock: itself on constant-rate video, round(t * fps) on a
        variable-rate one, so that nominal_index / fps is the frame's real time."""
        if self.frame_times is None:
            return index
        return round(float(self.frame_times[index]) * self.fps)


def variable_rate_times(times: "np.ndarray", fps: float) -> "np.ndarray | None":
    """`times` (start of each frame in seconds, from 0) when they drift from index / fps by more
    than `DRIFT_FRAMES` frame intervals anywhere: a variable-frame-rate video. None when index / fps
    is right (constant rate), or when the times are unusable (not increasing, not finite): the
    nominal clock is then the best there is.

    >>> import numpy as np
    >>> variable_rate_times(np.array([0.0, 0.04, 0.08]), 25.0) is None
    True
    >>> variable_rate_times(np.array([0.0, 0.04, 2.0]), 25.0).tolist()
    [0.0, 0.04, 2.0]
    """
    import numpy as np

    t = np.asarray(times, dtype=np.float64)  # (F,)
    if t.ndim != 1 or t.size < 2 or not np.isfinite(t).all() or t[0] != 0 or (np.diff(t) < 0).any():
        return None
    drift = np.abs(t - np.arange(t.size) / fps)  # (F,) seconds
    return t if float(drift.max()) > DRIFT_FRAMES / fps else None


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
