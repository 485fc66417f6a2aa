"""What a caller gives the engine for one video: already-decoded frames and when they were.

The engine never opens video files: callers decode with `vlmcli.video` (sparse reads of
only the sampled frames) and hand over the frames. Processors get these frames as they
are, with `do_sample_frames=False`, so transformers never re-decodes or re-samples.

This module is the engine's one seam onto `vlmcli.video`: `from_sampled` and the
`sampling` field read that package's plain results (`SampledVideo`, `SamplingReport`),
lazily or for typing only. The dependency runs engine -> video; `vlmcli.video` never
imports the engine.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vlmcli.errors import ConfigError

if TYPE_CHECKING:  # numpy is imported inside the functions: `vlm --help` must not load it
    import numpy as np

    from vlmcli.video.sample import SampledVideo
    from vlmcli.video.sampling_report import SamplingReport


def frames_key(frames: "np.ndarray", indices: Sequence[int]) -> str:
    """Content hash of decoded frames plus which frames of the video they are."""
    import numpy as np

    digest = hashlib.sha256()
    digest.update(f"{frames.shape}:{','.join(map(str, indices))}:".encode())
    digest.update(np.ascontiguousarray(frames).tobytes())
    return digest.hexdigest()


def _as_array(frames: Any) -> "np.ndarray":
    """uint8 (T, H, W, 3) from an array or a list of PIL images."""
    import numpy as np

    if isinstance(frames, np.ndarray):
        array = frames
    else:
        array = np.stack([np.asarray(f.convert("RGB") if hasattr(f, "convert") else f) for f in frames])
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] != 3 or array.shape[0] < 1:
        raise ConfigError(f"video frames must be uint8 (T, H, W, 3) with T >= 1, got {array.dtype} {array.shape}.")
    return np.ascontiguousarray(array)


@dataclass(frozen=True, eq=False)
class VideoInput:
    """Decoded frames of one video (or one segment of it), in time order.

    frames: uint8 (T, H, W, 3) RGB; a list of PIL images is converted on construction.
    timestamps: seconds of each frame in the source video, non-decreasing (T,).
    fps: the source video's frame rate; frame i of the video is at i / fps.
    indices: frame numbers in the source video (T,) on its nominal clock; default round(t * fps).
        Processors and adapters show the model index / fps as each frame's time, so a
        variable-frame-rate video passes round(t * fps) (`VideoInfo.nominal_index`), not the
        frame's position in the file, whose index / fps can be off by minutes.
    duration_s: seconds the frames cover (the whole video, or the segment); default the
        span of the timestamps plus one frame.
    source: a name for messages and output.
    key: content hash for the vision-feature cache; computed from frames + indices if empty.
    sampling: how the frames were chosen and decoded (`from_sampled` fills it), reported in
        `--json`; None when the caller chose the frames itself. The engine never reads it.
    """

    frames: "np.ndarray"
    timestamps: tuple[float, ...]
    fps: float
    indices: tuple[int, ...] = ()
    duration_s: float = 0.0
    source: str = "<video>"
    key: str = ""
    sampling: "SamplingReport | None" = None

    def __post_init__(self) -> None:
        frames = _as_array(self.frames)
        object.__setattr__(self, "frames", frames)
        times = tuple(float(t) for t in self.timestamps)
        object.__setattr__(self, "timestamps", times)
        if len(times) != frames.shape[0]:
            raise ConfigError(f"{self.source}: {frames.shape[0]} frames but {len(times)} timestamps.")
        if any(b < a for a, b in zip(times, times[1:])) or (times and times[0] < 0):
            raise ConfigError(f"{self.source}: frame timestamps must be >= 0 and in time order.")
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise ConfigError(f"{self.source}: fps must be a positive number, got {self.fps!r}.")
        indices = tuple(int(i) for i in self.indices) or tuple(int(round(t * self.fps)) for t in times)
        if len(indices) != len(times):
            raise ConfigError(f"{self.source}: {len(times)} timestamps but {len(indices)} frame indices.")
        object.__setattr__(self, "indices", indices)
        if self.duration_s <= 0:
            object.__setattr__(self, "duration_s", times[-1] - times[0] + 1.0 / self.fps)
        if not self.key:
            object.__setattr__(self, "key", frames_key(frames, indices))

    @property
    def notes(self) -> tuple[str, ...]:
        """The sampling report's notes (`SamplingReport.notes`): which video stream of several
        is read, a first picture after the file's start, a `--frames N` cut back; each names
        `source`. Commands say them; the engine never reads them. Empty without a report."""
        return self.sampling.notes if self.sampling is not None else ()

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def at_least(self, frames: int) -> "VideoInput":
        """This clip with its last frame repeated until it has `frames` frames (itself if it has them).

        For families whose video processors group frames into temporal patches and refuse a
        shorter clip (Qwen3-VL, GLM-4V: "t:1 must be larger than temporal_factor:2"): a
        one-frame video is a still, shown as that frame held, as Qwen2-VL's processor pads.
        """
        import numpy as np

        missing = frames - len(self)
        if missing <= 0:
            return self
        last = np.repeat(self.frames[-1:], missing, axis=0)  # (missing, H, W, 3)
        return VideoInput(
            frames=np.concatenate([self.frames, last]),  # (frames, H, W, 3)
            timestamps=self.timestamps + (self.timestamps[-1],) * missing,
            fps=self.fps,
            indices=self.indices + (self.indices[-1],) * missing,
            duration_s=self.duration_s,
            source=self.source,
            sampling=self.sampling,
        )

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames."""
        return int(self.frames.shape[2]), int(self.frames.shape[1])

    def metadata(self) -> dict[str, Any]:
        """transformers `VideoMetadata` fields for these frames (processors compute timestamps from it)."""
        return {
            "total_num_frames": max(len(self), int(round(self.duration_s * self.fps))),
            "fps": float(self.fps),
            "frames_indices": list(self.indices),
            "duration": float(self.duration_s),
            "width": self.size[0],
            "height": self.size[1],
        }

    @classmethod
    def from_sampled(cls, sampled: "SampledVideo", *, source: str | None = None) -> "VideoInput":
        """The frames `vlmcli.video.sample_video` decoded, with their real timestamps and how they were chosen."""
        from vlmcli.video.sampling_report import SamplingReport

        frames = sampled.frames
        name = source if source is not None else sampled.info.path
        return cls(
            frames=frames.pixels,
            timestamps=frames.timestamps,
            fps=sampled.info.fps,
            indices=tuple(sampled.info.nominal_index(i) for i in frames.indices),
            duration_s=sampled.info.duration_s,
            source=name,
            sampling=SamplingReport.from_sampled(sampled, source=name),
        )


def unambiguous_frames(frames: "np.ndarray") -> "np.ndarray":
    """(T, H, W, 3) frames laid out so a processor reads them right. transformers guesses where
    the channels are from the sizes, and takes a 1- or 3-pixel-tall frame's height for its
    channels (a 2000x8 strip decoded at 768x3 reached 13 families as 768-tall, 3-wide frames).
    Such clips go channels-first (T, 3, H, W), which it never misreads; others are unchanged."""
    return frames.transpose(0, 3, 1, 2) if frames.shape[1] in (1, 3) else frames  # (T, 3, H, W)

