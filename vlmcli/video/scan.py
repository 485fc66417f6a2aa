"""A cheap low-resolution pass over a video: how much the picture changes, and where.

Keyframe and dynamic sampling both need to know where the content changes before they
choose the frames the model will see. Decoding every frame at full size for that would
cost more than the model call, so the scan is sparse and bounded whatever the length:

1. **Coarse pass**: about `SCAN_FPS` thumbnails (64 px on the long side) per second of
   video, never more than `SCAN_MAX_FRAMES`; an hour of video gets one every 6 s. Where the
   container says which frames are keyframes (`key_indices()`), each scan target snaps to
   a keyframe within half a scan step: seeking to a keyframe decodes one frame, while any
   other frame costs a decode from the previous keyframe (up to a whole GOP).
2. **Refinement** (`refine.py`): every step that changed enough to hold a cut (flagged by
   the coarse detector `cut_rules.detect_cuts`, or with a histogram change above its floor)
   is searched down to adjacent frames, several cuts per step if need be. Its budget grows
   with the scan: `REFINE_FRAMES_PER_STEP` frames per scan step, pooled over the video
   (most steps need none, a cut ~14), so at most `REFINE_MAX_FRAMES`.
   The frames it reads join the scan, so the scan is dense around every change.

So a scan reads at most SCAN_MAX_FRAMES + REFINE_MAX_FRAMES frames (14,976 by default:
600 + 24 per step; an hour with ~800 cuts needs ~10,700), whether the video lasts a
minute or a day. If the budget runs out, or
a frame will not decode, before every changed step was searched, `Scan.degraded` says so
in one sentence (commands print it and put it in `--json`); those steps keep the coarse
detector's verdict, at the scan step's precision.

Each pair of consecutive scanned frames is reduced to two numbers (`change.py`):
`pixel_delta` (mean hue/chroma/value difference, like PySceneDetect's ContentDetector; sees
motion) and `hist_delta` (histogram distance; nearly blind to motion, jumps at a cut); the
hue of grey pixels does not count, so an encoder's keyframes on grey footage are no cuts. The
samplers take a `Scan` and never decode, so they are unit-tested on hand-made arrays.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from vlmcli.errors import VideoError
from vlmcli.video.change import Features, feature_deltas
from vlmcli.video.cut_rules import CutOptions, detect_cuts
from vlmcli.video.decode import FrameReader, Opener, open_decord, probe, read_around_damage
from vlmcli.video.metadata import VideoInfo, fit_within
from vlmcli.video.refine import Refinement, refine_changes

SCAN_FPS = 4.0  # scanned frames per second of video: catches scenes longer than ~0.5 s
SCAN_MAX_FRAMES = 600  # cap for long videos: 10 min at 1 scan/s; refinement finds the cuts
REFINE_FRAMES_PER_STEP = 24  # refinement budget per scan step, pooled (~14 frames per cut)
REFINE_MAX_FRAMES = REFINE_FRAMES_PER_STEP * (SCAN_MAX_FRAMES - 1)  # 14,376
SCAN_SIDE = 64  # thumbnail long side in pixels: enough for colour/layout, ~free to compare


@dataclass(frozen=True, eq=False)
class Scan:
    """Change signals over scanned frames of one video.

    indices: (S,) int64, the scanned frame indices, strictly increasing, S >= 1.
    timestamps: (S,) float64 seconds of each scanned frame.
    pixel_delta: (S,) float64 in [0, 1]; [i] compares scanned frame i with i-1; [0] = 0.
    hist_delta: (S,) float64 in [0, 1]; same pairing, hue/chroma/value-histogram distance.
    cut_index: (S,) int64; [i] is the first frame of the new picture for the change at step
        i; indices[i] (the default, and always so in scans made by `scan_video`).
    cut_sharpness: (S,) float64; for a step between adjacent frames, max(pixel, hist) delta;
        for a wider step, 0 where the scan ruled a hard cut out (refinement searched it, or
        it changed too little to hold one) and NaN where that is unknown (the default: the
        coarse detector decides).
    frames_read: frames decoded to build this scan (scanned + refinement frames).
    degraded: None when cut detection ran in full; otherwise one sentence saying why it was
        degraded or abandoned (commands print it on stderr and report it in `--json`).
    """

    indices: np.ndarray
    timestamps: np.ndarray = field(repr=False)
    pixel_delta: np.ndarray = field(repr=False)
    hist_delta: np.ndarray = field(repr=False)
    cut_index: np.ndarray | None = field(default=None, repr=False)
    cut_sharpness: np.ndarray | None = field(default=None, repr=False)
    frames_read: int = 0
    degraded: str | None = None

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
    return scan_from_features(indices=indices, timestamps=timestamps, features=Features.of(pixels))


def scan_from_features(
    *, indices: np.ndarray, timestamps: np.ndarray, features: Features, frames_read: int | None = None
) -> Scan:
    """A `Scan` of frames `indices` (increasing) from their `Features`; steps between adjacent
    frames get their sharpness (see `Scan.cut_sharpness`)."""
    indices = np.asarray(indices, dtype=np.int64)
    n = len(indices)
    pixel, hist = np.zeros(n, dtype=np.float64), np.zeros(n, dtype=np.float64)
    for a in range(0, n - 1, 1024):  # in blocks: a refined scan holds thousands of frames
        rows = np.arange(a, min(n - 1, a + 1024))
        pixel[rows + 1], hist[rows + 1] = feature_deltas(features.take(rows), features.take(rows + 1))
    sharp = np.full(n, np.nan, dtype=np.float64)
    adjacent = np.flatnonzero(np.diff(indices) == 1) + 1  # steps i with indices[i-1] + 1 == indices[i]
    sharp[adjacent] = np.maximum(pixel[adjacent], hist[adjacent])
    return Scan(
        indices=indices, timestamps=np.asarray(timestamps, dtype=np.float64), pixel_delta=pixel,
        hist_delta=hist, cut_sharpness=sharp, frames_read=n if frames_read is None else frames_read,
    )


def scan_video(
    path: str | os.PathLike[str],
    *,
    info: VideoInfo | None = None,
    fps: float = SCAN_FPS,
    max_frames: int = SCAN_MAX_FRAMES,
    refine_frames: int | None = None,
    side: int = SCAN_SIDE,
    opener: Opener = open_decord,
    options: CutOptions = CutOptions(),
) -> Scan:
    """Scan `path` at `side` px: a bounded coarse pass, then a search of every changed step.

    refine_frames: the refinement budget; None is `REFINE_FRAMES_PER_STEP` per scan step,
        0 skips refinement. Reads at most `max_frames` + that many frames.
    Raises `VideoError` when the coarse pass cannot be decoded; a decode error during
    refinement only degrades the scan (`Scan.degraded`).
    """
    info = info if info is not None else probe(path, opener=opener)
    name = os.fspath(path)
    size = fit_within(width=info.width, height=info.height, max_side=side)
    reader = opener(name, None if size == (info.width, info.height) else size)
    wanted = scan_indices(info, fps=fps, max_frames=max_frames, keys=_keyframes(reader))
    wanted, pixels = _read_coarse(reader, name, wanted, frame_count=info.frame_count)
    features = Features.of(pixels)
    coarse = scan_from_features(indices=wanted, timestamps=reader.start_times(wanted), features=features)
    budget = REFINE_FRAMES_PER_STEP * (len(coarse) - 1) if refine_frames is None else refine_frames
    candidates = changed_steps(coarse, options=options)
    if budget <= 0 or candidates.size == 0:
        return coarse
    found = refine_changes(
        indices=coarse.indices, features=features, positions=candidates, frame_count=info.frame_count,
        read=lambda idx: _read(reader, name, idx), budget=budget, options=options,
    )
    everything = np.concatenate([coarse.indices, found.frames])  # (S + N,)
    order = np.argsort(everything)
    merged = scan_from_features(
        indices=everything[order], timestamps=reader.start_times(everything[order]),
        features=Features.concat([features, found.features]).take(order),
        frames_read=len(coarse) + found.frames_read,
    )
    unknown = np.zeros(len(merged), dtype=bool)  # wide steps inside stretches left unsearched
    for p in found.unsettled:
        unknown |= (merged.indices > coarse.indices[p - 1]) & (merged.indices <= coarse.indices[p])
    sharp = merged.cut_sharpness.copy()
    wide = np.isnan(sharp)
    sharp[wide & ~unknown] = 0.0
    sharp[0] = np.nan
    return Scan(
        indices=merged.indices, timestamps=merged.timestamps, pixel_delta=merged.pixel_delta,
        hist_delta=merged.hist_delta, cut_sharpness=sharp, frames_read=merged.frames_read,
        degraded=_degraded(found, coarse, candidates=len(candidates), budget=budget, info=info),
    )


def changed_steps(scan: Scan, *, options: CutOptions = CutOptions()) -> np.ndarray:
    """(C,) scan steps worth searching for cuts, most promising first: those the coarse
    detector flags (by mean score), then any other whose histogram changed above the floor
    (by histogram change). On a cut-heavy video scanned coarsely most steps hold a cut and
    none stands out, so the coarse detector alone would find nothing."""
    flagged = detect_cuts(scan.pixel_delta, scan.hist_delta, options=options)  # (F,)
    changed = np.flatnonzero(scan.hist_delta >= options.min_score)
    changed = changed[(changed >= 1) & ~np.isin(changed, flagged)]
    first = flagged[np.lexsort((flagged, -scan.content[flagged]))]
    then = changed[np.lexsort((changed, -scan.hist_delta[changed]))]
    return np.concatenate([first, then]).astype(np.int64)


def _degraded(found: Refinement, coarse: Scan, *, candidates: int, budget: int, info: VideoInfo) -> str | None:
    """One sentence when the refinement left changed steps unsearched, else None."""
    left = len(found.unsettled)
    if left == 0:
        return None
    step = float(np.median(np.diff(coarse.timestamps))) if len(coarse) > 1 else info.duration_s
    why = (
        f"a frame would not decode while locating cuts ({found.error.rstrip('.')})"
        if found.error is not None
        else f"the cut search used its whole budget of {budget} frames"
    )
    return (
        f"{why}, so {left} of {candidates} changed stretches of the scan were not searched: cuts there "
        f"are placed only to within {step:.1f} s, and missed where several fall within one stretch"
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


def _read_coarse(reader: FrameReader, name: str, indices: np.ndarray, *, frame_count: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices read, their thumbnails): `indices`, with a frame that will not decode (a
    damaged packet) replaced by a neighbour that does, or left out; `VideoError` when none does."""
    try:
        return indices, _read(reader, name, indices)
    except VideoError as exc:
        read, pixels, _ = read_around_damage(reader, indices, frame_count=frame_count, error=exc)
        return read, np.ascontiguousarray(pixels, dtype=np.uint8)


def _read(reader: FrameReader, name: str, indices: np.ndarray) -> np.ndarray:
    """uint8 (N, h, w, 3) thumbnails of `indices`; `VideoError` if the file will not decode."""
    try:
        return np.ascontiguousarray(reader.read(indices), dtype=np.uint8)
    except Exception as exc:
        raise VideoError(
            f"Could not decode frames {indices[0]}..{indices[-1]} of {name}: "
            f"the file looks corrupt or truncated ({type(exc).__name__})."
        ) from exc
