"""The one interface every frame sampler implements, and the plan it returns.

A sampler is pure: it reads a `VideoInfo` (and, if it declares `needs_scan`, the change
signals of a cheap low-resolution `Scan`) and returns which frames to decode and why. It
never opens the file, so each sampler is unit-tested with hand-written inputs, and the
reasons it gives end up in logs and JSON output so users can see why a frame was picked.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from vlmcli.video.metadata import VideoInfo
from vlmcli.video.sampling.options import SamplingOptions
from vlmcli.video.scan import Scan


@dataclass(frozen=True)
class SampledFrame:
    """One chosen frame.

    index: frame number in the video (0-based).
    t: nominal time in seconds (index / fps).
    reason: short human-readable why, e.g. "uniform 3/8", "scene 2 mid", "change".
    """

    index: int
    t: float
    reason: str

    def __post_init__(self) -> None:
        if self.index < 0:
            raise ValueError(f"frame index must be >= 0, got {self.index}")
        if self.t < 0:
            raise ValueError(f"frame time must be >= 0, got {self.t}")


@dataclass(frozen=True)
class Cut:
    """A detected hard cut: the first frame of the new scene.

    index: that frame's number: exact where the scan bisected the cut (the default), else
        the first scanned frame after it.
    t: its nominal time in seconds.
    score: the cut score in [0, 1] that triggered it.
    """

    index: int
    t: float
    score: float


@dataclass(frozen=True)
class SamplePlan:
    """Which frames to decode, in increasing order, plus what the sampler found on the way.

    frames: strictly increasing by index, at least one.
    cuts: scene cuts the sampler detected (empty for samplers that do not look for cuts).
    """

    frames: tuple[SampledFrame, ...]
    cuts: tuple[Cut, ...] = ()

    def __post_init__(self) -> None:
        if not self.frames:
            raise ValueError("a sample plan needs at least one frame")
        idx = [f.index for f in self.frames]
        if any(b <= a for a, b in zip(idx, idx[1:])):
            raise ValueError(f"plan frame indices must be strictly increasing, got {idx}")

    @property
    def indices(self) -> tuple[int, ...]:
        return tuple(f.index for f in self.frames)

    @property
    def timestamps(self) -> tuple[float, ...]:
        return tuple(f.t for f in self.frames)

    def __len__(self) -> int:
        return len(self.frames)


class FrameSampler(ABC):
    """Chooses frames of a video. Subclasses set `needs_scan` and implement `select`."""

    needs_scan: ClassVar[bool] = False
    """True if `select` needs a `Scan`; the caller then runs `scan_video` first."""

    @abstractmethod
    def select(self, info: VideoInfo, scan: Scan | None, *, options: SamplingOptions) -> SamplePlan:
        """Plan `options.budget(info)` frames (fewer only where the video has fewer frames).

        Deterministic: the same inputs always give the same plan.
        """

    def _require_scan(self, scan: Scan | None) -> Scan:
        if scan is None:
            raise ValueError(f"{type(self).__name__} needs a Scan of the video (needs_scan=True)")
        return scan

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
