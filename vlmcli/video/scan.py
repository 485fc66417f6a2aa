"""A cheap low-resolution pass over a video: how much the picture changes, and where.

Keyframe and dynamic sampling both need to know where the content changes before they
choose the frames the model will see. Decoding every frame at full size for that would
cost more than the model call, so the scan is sparse and bounded whatever the length:

1. **Coarse pass**: about `SCAN_FPS` thumbnails (64 px on the long side) per second of
   video, never more than `SCAN_MAX_FRAMES`; an hour of video gets one every 6 s. Where the
   container says which frames are keyframes (decord's `get_key_indices`), each scan target
   snaps to a keyframe within half a scan step: seeking to a keyframe decodes one frame,
   while any other frame costs a decode from the previous keyframe (up to a whole GOP).
2. **Refinement**: every step the cut detector flags (`sampling.cuts.detect_cuts`) is
   bisected down to two adjacent frames (`refine.py`), at most `REFINE_MAX_FRAMES` frames
   for the whole video. The cut then lands on its exact frame even when scanned frames are
   seconds apart, and the difference of the two adjacent frames (`cut_sharpness`) tells a
   hard cut from motion that only looked like one at a coarse step.

So a scan reads at most SCAN_MAX_FRAMES + REFINE_MAX_FRAMES frames (1,000 by default),
whether the video lasts a minute or a day. Each pair of consecutive thumbnails is reduced
to two numbers (`change.py`): `pixel_delta` (mean HSV difference, like PySceneDetect's
ContentDetector; sees motion) and `hist_delta` (HSV-histogram distance; nearly blind to
motion, jumps at a cut). The samplers take a `Scan` and never decode, so they are
unit-tested on hand-made arrays.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from vlmcli.errors import VideoError
from vlmcli.video.change import HIST_BINS, frame_deltas, histograms, rgb_to_hsv  # noqa: F401
from vlmcli.video.decode import FrameReader, Opener, open_decord, probe
from vlmcli.video.metadata import VideoInfo, fit_within
from vlmcli.video.refine import bisect_changes

SCAN_FPS = 4.0  # scanned frames per second of video: catches scenes longer than ~0.5 s
SCAN_MAX_FRAMES = 600  # cap for long videos: 10 min at 1 scan/s; refinement keeps cuts exact
REFINE_MAX_FRAMES = 400  # bisection frames for all cuts together (~50 cuts at 8 levels each)
SCAN_SIDE = 64  # thumbnail long side in pixels: enough for colour/layout, ~free to compare


@dataclass(frozen=True, eq=False)
class Scan:
    """Change signals over scanned frames of one video.

    indices: (S,) int64, the scanned frame indices, strictly increasing, S >= 1.
    timestamps: (S,) float64 seconds of each scanned frame.
    pixel_delta: (S,) float64 in [0, 1]; [i] compares scanned frame i with i-1; [0] = 0.
    hist_delta: (S,) float64 in [0, 1]; same pairing, HSV-histogram distance.
    cut_index: (S,) int64; [i] is the first frame of the new picture for the change at step
        i, found by bisection; indices[i] where the step was not refined (the default).
    cut_sharpness: (S,) float64; max(pixel, hist) delta between frames cut_index[i] - 1 and
        cut_index[i]; NaN where unknown (not refined down to adjacent frames; the default).
    frames_read: frames decoded to build this scan (scanned + bisection frames).
    """

    indices: np.ndarray
    timestamps: np.ndarray = field(repr=False)
    pixel_delta: np.ndarray = field(repr=False)
    hist_delta: np.ndarray = field(repr=False)
    cut_index: np.ndarray | None = field(default=None, repr=False)
    cut_sharpness: np.ndarray | None = field(default=None, repr=False)
    frames_read: int = 0

    def __post_init__(self) -> None:
        n = self.indices.shape[0] if self.indices.ndim == 1 else -1
        if n < 1:
            raise ValueError(f"a scan needs a 1-D array of >= 1 indices, got {self.indices.shape}")
        if self.cut_index is None:
            object.__setattr__(self, "cut_index", np.asarray(self.indices, dtype=np.int64).copy())
        if self.cut_sharpness is None:
            object.__setattr__(self, "cut_sharpness", np.full(n, np.nan, dtype=np.float64))
        for name in ("timestamps", "pixel_delta", "hist_delta", "cut_index", "cut_sharpness"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {getattr(self, name).shape}")
        if n > 1 and np.any(np.diff(self.indices) <= 0):
            raise ValueError("scan indices must be strictly increasing")
        if n > 1 and np.any((self.cut_index[1:] <= self.indices[:-1]) | (self.cut_index[1:] > self.indices[1:])):
            raise ValueError("cut_index[i] must lie in (indices[i-1], indices[i]]")

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    @property
    def content(self) -> np.ndarray:
        """(S,) the cut score: mean of pixel and histogram deltas, in [0, 1]."""
        return 0.5 * (self.pixel_delta + self.hist_delta)


def scan_indices(
    info: VideoInfo,
    *,
    fps: float = SCAN_FPS,
    max_frames: int = SCAN_MAX_FRAMES,
    keys: np.ndarray | None = None,
) -> np.ndarray:
    """(S,) frame indices for a scan: about `fps` per second, at most `max_frames`, evenly spread.

    keys: the container's keyframe indices, if known; every target except the first and last
        frame moves to the nearest keyframe within half a scan step (cheap to seek to).
    The first and last frames are always included, so every part of the video is covered.
    """
    if fps <= 0 or max_frames < 2:
        raise ValueError(f"scan fps must be > 0 and max_frames >= 2, got {fps}, {max_frames}")
    count = min(info.frame_count, max_frames, max(2, math.ceil(info.duration_s * fps) + 1))
    targets = np.round(np.linspace(0, info.frame_count - 1, count)).astype(np.int64)  # (S,)
    if keys is not None and len(keys) and count > 2:
        keys = np.unique(np.asarray(keys, dtype=np.int64))  # (K,) sorted
        half = 0.5 * (info.frame_count - 1) / (count - 1)
        inner = targets[1:-1]  # (S-2,)
        right = np.clip(np.searchsorted(keys, inner), 0, len(keys) - 1)
        left = np.clip(right - 1, 0, len(keys) - 1)
        nearest = np.where(np.abs(keys[left] - inner) <= np.abs(keys[right] - inner), keys[left], keys[right])
        targets[1:-1] = np.where(np.abs(nearest - inner) <= half, nearest, inner)
    return np.unique(targets)


def scan_from_frames(*, indices: np.ndarray, timestamps: np.ndarray, pixels: np.ndarray) -> Scan:
    """Reduce thumbnails uint8 (S, h, w, 3) RGB to a `Scan` (pure; no decoding, no refinement)."""
    pixel = np.zeros(len(indices), dtype=np.float64)
    hist = np.zeros(len(indices), dtype=np.float64)
    if len(indices) > 1:
        pixel[1:], hist[1:] = frame_deltas(pixels[:-1], pixels[1:])  # (S-1,) each
    return Scan(
        indices=np.asarray(indices, dtype=np.int64),
        timestamps=np.asarray(timestamps, dtype=np.float64),
        pixel_delta=pixel,
        hist_delta=hist,
        frames_read=len(indices),
    )


def scan_video(
    path: str | os.PathLike[str],
    *,
    info: VideoInfo | None = None,
    fps: float = SCAN_FPS,
    max_frames: int = SCAN_MAX_FRAMES,
    refine_frames: int = REFINE_MAX_FRAMES,
    side: int = SCAN_SIDE,
    opener: Opener = open_decord,
) -> Scan:
    """Scan `path` at `side` px: a bounded coarse pass, then bisection of the likely cuts.

    Reads at most `max_frames + refine_frames` frames; `refine_frames=0` skips refinement.
    Raises `VideoError` for a file that cannot be decoded.
    """
    from vlmcli.video.sampling.cuts import detect_cuts  # the sampling package imports this module

    info = info if info is not None else probe(path, opener=opener)
    name = os.fspath(path)
    size = fit_within(width=info.width, height=info.height, max_side=side)
    reader = opener(name, None if size == (info.width, info.height) else size)
    wanted = scan_indices(info, fps=fps, max_frames=max_frames, keys=_keyframes(reader))
    pixels = _read(reader, name, wanted)  # (S, h, w, 3) uint8
    times = reader.start_times(wanted)  # (S,)
    scan = scan_from_frames(indices=wanted, timestamps=times, pixels=pixels)
    positions = detect_cuts(scan.pixel_delta, scan.hist_delta)  # (C,) increasing
    if refine_frames <= 0 or positions.size == 0:
        return scan
    strongest = positions[np.lexsort((positions, -scan.content[positions]))]
    found = bisect_changes(
        indices=scan.indices, thumbs=pixels, positions=strongest,
        read=lambda idx: _read(reader, name, idx), budget=refine_frames,
    )
    cut_index, sharpness = scan.cut_index.copy(), scan.cut_sharpness.copy()
    cut_index[found.positions] = found.cut_index
    sharpness[found.positions] = found.sharpness
    return Scan(
        indices=scan.indices, timestamps=scan.timestamps, pixel_delta=scan.pixel_delta,
        hist_delta=scan.hist_delta, cut_index=cut_index, cut_sharpness=sharpness,
        frames_read=len(scan) + found.frames_read,
    )


def _keyframes(reader: FrameReader) -> np.ndarray | None:
    """The reader's keyframe indices (`key_indices()`, decord's index), or None if unknown."""
    method = getattr(reader, "key_indices", None)
    if method is None:
        return None
    try:
        keys = np.asarray(method(), dtype=np.int64).reshape(-1)
    except Exception:  # an index we cannot read only costs speed, never correctness
        return None
    return keys if keys.size else None


def _read(reader: FrameReader, name: str, indices: np.ndarray) -> np.ndarray:
    """uint8 (N, h, w, 3) thumbnails of `indices`; `VideoError` if the file will not decode."""
    try:
        return np.ascontiguousarray(reader.read(indices), dtype=np.uint8)
    except Exception as exc:
        raise VideoError(
            f"Could not decode frames {indices[0]}..{indices[-1]} of {name}: "
            f"the file looks corrupt or truncated ({type(exc).__name__})."
        ) from exc
