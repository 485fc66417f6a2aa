"""A cheap low-resolution pass over a video: how much the picture changes, and where.

Keyframe and dynamic sampling both need to know where the content changes before they
choose the frames the model will see. Decoding every frame at full size for that would
cost more than the model call, so we decode a sparse subset (a few frames per second,
capped) at thumbnail size (64 px on the long side) and reduce each consecutive pair of
thumbnails to two numbers:

- `pixel_delta`: mean absolute difference of the H, S and V channels, like PySceneDetect's
  ContentDetector. Sensitive to motion as well as to cuts.
- `hist_delta`: distance between per-channel HSV histograms. Nearly blind to motion (a box
  that moves keeps its colours) but jumps at a cut, so it separates cuts from fast motion.

Both are in [0, 1]. The samplers take a `Scan` and never decode, so they are unit-tested
on hand-made arrays. Caveat: with long-GOP codecs decord still decodes the P-frames
between scanned frames, so a sparse scan saves the resize and copy, not the decode.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from vlmcli.video.decode import Opener, open_decord, probe, read_frames
from vlmcli.video.metadata import VideoInfo

SCAN_FPS = 4.0  # scanned frames per second of video: catches scenes longer than ~0.5 s
SCAN_MAX_FRAMES = 600  # cap for long videos: 10 min at 1 scan/s; cut times get coarser
SCAN_SIDE = 64  # thumbnail long side in pixels: enough for colour/layout, ~free to compare
HIST_BINS = 16  # per HSV channel; coarse bins make the histogram ignore noise


@dataclass(frozen=True, eq=False)
class Scan:
    """Change signals over scanned frames of one video.

    indices: (S,) int64, the scanned frame indices, strictly increasing, S >= 1.
    timestamps: (S,) float64 seconds of each scanned frame.
    pixel_delta: (S,) float64 in [0, 1]; [i] compares scanned frame i with i-1; [0] = 0.
    hist_delta: (S,) float64 in [0, 1]; same pairing, HSV-histogram distance.
    """

    indices: np.ndarray
    timestamps: np.ndarray = field(repr=False)
    pixel_delta: np.ndarray = field(repr=False)
    hist_delta: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        n = self.indices.shape[0] if self.indices.ndim == 1 else -1
        if n < 1:
            raise ValueError(f"a scan needs a 1-D array of >= 1 indices, got {self.indices.shape}")
        for name in ("timestamps", "pixel_delta", "hist_delta"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {getattr(self, name).shape}")
        if n > 1 and np.any(np.diff(self.indices) <= 0):
            raise ValueError("scan indices must be strictly increasing")

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    @property
    def content(self) -> np.ndarray:
        """(S,) the cut score: mean of pixel and histogram deltas, in [0, 1]."""
        return 0.5 * (self.pixel_delta + self.hist_delta)


def scan_indices(
    info: VideoInfo, *, fps: float = SCAN_FPS, max_frames: int = SCAN_MAX_FRAMES
) -> np.ndarray:
    """(S,) frame indices for a scan: about `fps` per second, at most `max_frames`, evenly spread.

    The first and last frames are always included, so every part of the video is covered.
    """
    if fps <= 0 or max_frames < 2:
        raise ValueError(f"scan fps must be > 0 and max_frames >= 2, got {fps}, {max_frames}")
    count = min(info.frame_count, max_frames, max(2, math.ceil(info.duration_s * fps) + 1))
    return np.unique(np.round(np.linspace(0, info.frame_count - 1, count)).astype(np.int64))


def scan_from_frames(*, indices: np.ndarray, timestamps: np.ndarray, pixels: np.ndarray) -> Scan:
    """Reduce thumbnails uint8 (S, h, w, 3) RGB to a `Scan` (pure; no decoding)."""
    hsv = rgb_to_hsv(pixels)  # (S, h, w, 3) float32 in [0, 1]
    pixel = np.zeros(len(indices), dtype=np.float64)
    hist = np.zeros(len(indices), dtype=np.float64)
    if len(indices) > 1:
        d = np.abs(hsv[1:] - hsv[:-1])  # (S-1, h, w, 3)
        d[..., 0] = 2.0 * np.minimum(d[..., 0], 1.0 - d[..., 0])  # hue is an angle; max 0.5 -> 1
        pixel[1:] = d.mean(axis=(1, 2, 3))
        h = _histograms(hsv)  # (S, 3, HIST_BINS), each row sums to 1
        hist[1:] = 0.5 * np.abs(h[1:] - h[:-1]).sum(axis=2).mean(axis=1)
    return Scan(
        indices=np.asarray(indices, dtype=np.int64),
        timestamps=np.asarray(timestamps, dtype=np.float64),
        pixel_delta=pixel,
        hist_delta=hist,
    )


def scan_video(
    path: str | os.PathLike[str],
    *,
    info: VideoInfo | None = None,
    fps: float = SCAN_FPS,
    max_frames: int = SCAN_MAX_FRAMES,
    side: int = SCAN_SIDE,
    opener: Opener = open_decord,
) -> Scan:
    """Decode a sparse subset of `path` at `side` px and return its change signals."""
    info = info if info is not None else probe(path, opener=opener)
    frames = read_frames(
        path, scan_indices(info, fps=fps, max_frames=max_frames), max_side=side, info=info,
        opener=opener,
    )
    return scan_from_frames(
        indices=np.asarray(frames.indices), timestamps=np.asarray(frames.timestamps),
        pixels=frames.pixels,
    )


def rgb_to_hsv(pixels: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., 3) -> float32 HSV (..., 3), every channel in [0, 1] (hue wraps at 1)."""
    rgb = pixels.astype(np.float32) / 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(axis=-1)
    c = v - rgb.min(axis=-1)  # chroma
    s = np.where(v > 0, c / np.maximum(v, 1e-12), 0.0)
    safe = np.maximum(c, 1e-12)
    h = np.where(
        v == r, ((g - b) / safe) % 6.0, np.where(v == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0)
    )
    h = np.where(c > 0, h / 6.0, 0.0)
    return np.stack([h, s, v], axis=-1).astype(np.float32)


def _histograms(hsv: np.ndarray) -> np.ndarray:
    """(S, h, w, 3) HSV in [0, 1] -> (S, 3, HIST_BINS) normalised per-channel histograms.

    Soft binning: each value is split linearly between the two nearest bin centres, so
    noise around a bin edge moves a little mass instead of a whole pixel. Hue bins wrap
    around (an angle); saturation and value clamp at the ends.
    """
    s = hsv.shape[0]
    values = hsv.reshape(s, -1, 3).astype(np.float64)  # (S, P, 3)
    rows = np.arange(s)[:, None] * HIST_BINS  # (S, 1) offset of each frame's bins
    out = np.zeros((s, 3, HIST_BINS), dtype=np.float64)
    for ch in range(3):
        pos = values[:, :, ch] * HIST_BINS - 0.5  # (S, P) in bin-centre units
        lo = np.floor(pos)
        frac = pos - lo
        lo = lo.astype(np.int64)
        if ch == 0:
            lo_bin, hi_bin = lo % HIST_BINS, (lo + 1) % HIST_BINS
        else:
            lo_bin, hi_bin = np.clip(lo, 0, HIST_BINS - 1), np.clip(lo + 1, 0, HIST_BINS - 1)
        size = s * HIST_BINS
        counts = np.bincount((lo_bin + rows).ravel(), weights=(1 - frac).ravel(), minlength=size)
        counts += np.bincount((hi_bin + rows).ravel(), weights=frac.ravel(), minlength=size)
        out[:, ch, :] = counts.reshape(s, HIST_BINS)
    return out / values.shape[1]
