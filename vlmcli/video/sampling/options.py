"""How many frames to sample: the user's request, validated once, turned into a count.

Every sampler spends the same budget; only where the frames go differs. Keeping the budget
rule here means `--frames`, `--fps` and `--max-frames` mean the same thing for every method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vlmcli.errors import ConfigError
from vlmcli.video.metadata import VideoInfo

DEFAULT_MAX_FRAMES = 32  # most VLMs degrade (or run out of context) well before 64 frames


@dataclass(frozen=True)
class SamplingOptions:
    """The frame budget.

    frames: exactly this many frames (fewer only if the video is shorter). Cannot be
        combined with `fps`: asking for both is a `ConfigError`, because silently
        ignoring one of two explicit flags hides a mistake.
    fps: frames per second of video, i.e. round(duration_s * fps) frames (at least 1),
        capped by `max_frames`; a long video at a high rate is thinned, not truncated.
    max_frames: hard cap. With neither `frames` nor `fps`, the budget is `max_frames`.
        `frames > max_frames` is a `ConfigError` (raise the cap if you mean it).
    """

    frames: int | None = None
    fps: float | None = None
    max_frames: int = DEFAULT_MAX_FRAMES

    def __post_init__(self) -> None:
        if isinstance(self.max_frames, bool) or not isinstance(self.max_frames, int):
            raise ConfigError(f"max_frames must be an integer, got {self.max_frames!r}.")
        if self.max_frames < 1:
            raise ConfigError(f"max_frames must be at least 1, got {self.max_frames}.")
        if self.frames is not None and self.fps is not None:
            raise ConfigError("Give a frame count or a frame rate, not both.")
        if self.frames is not None:
            if isinstance(self.frames, bool) or not isinstance(self.frames, int):
                raise ConfigError(f"frames must be an integer, got {self.frames!r}.")
            if self.frames < 1:
                raise ConfigError(f"frames must be at least 1, got {self.frames}.")
            if self.frames > self.max_frames:
                raise ConfigError(
                    f"frames={self.frames} exceeds max_frames={self.max_frames}; "
                    "raise max_frames to sample that many."
                )
        if self.fps is not None and (
            isinstance(self.fps, bool)
            or not isinstance(self.fps, (int, float))
            or not (math.isfinite(self.fps) and self.fps > 0)
        ):
            raise ConfigError(f"fps must be a positive number, got {self.fps!r}.")

    def budget(self, info: VideoInfo) -> int:
        """Number of frames to sample from `info`'s video: 1 <= n <= frame_count."""
        if self.frames is not None:
            wanted = self.frames
        elif self.fps is not None:
            wanted = min(self.max_frames, max(1, math.floor(info.duration_s * self.fps + 0.5)))
        else:
            wanted = self.max_frames
        return min(wanted, info.frame_count)

    def reduced_note(self, got: int, *, holds: str = "the video") -> str | None:
        """One sentence when a frame count asked for (`frames`) was cut back to `got`, the
        most `holds` ("the video", "a segment") has; None when nothing was cut."""
        if self.frames is None or got >= self.frames:
            return None
        return (
            f"{self.frames} frames were asked for, but {holds} holds fewer: {got} read "
            "(every frame there is; a frame is never read twice)"
        )
