"""Hard-cut detection on a scan's change signals, with a threshold that adapts to the video.

A fixed threshold (PySceneDetect's ContentDetector default of 27/255) fires on every
frame of a fast pan and misses a cut between two similar-looking shots. We instead ask
whether a step is an outlier against its neighbourhood, like PySceneDetect's
AdaptiveDetector: a step is a cut when its score is both

- above an absolute floor (`min_score`), so sensor noise in a static shot never cuts, and
- `ratio` times larger than the median score of the `window` steps either side, so steady
  motion (high scores everywhere) does not cut but a jump out of it does.

Each signal (pixel and histogram deltas) is tested on its own and a step is a candidate
if either test fires: sparse scanning blurs the contrast between a cut and fast motion in
the pixel signal, while the histogram ignores motion. Candidates closer than
`min_scene_steps` are thinned, strongest first, which also folds a one-frame flash (two
spikes in a row) into a single cut. Gradual transitions (fades,
dissolves) spread their change over many steps and are, by design, not reported.

`scan_cuts` applies this to a whole `Scan` and uses the scan's refinement (`refine.py`):
each cut lands on its exact frame, and a flagged step whose two adjacent frames barely
differ (`cut_sharpness` below `min_score`) was motion or a fade seen across a coarse
step, so it is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vlmcli.video.scan import Scan


@dataclass(frozen=True)
class CutOptions:
    """Tuning of `detect_cuts`; the defaults work on the synthetic and real clips in bench/.

    min_score: absolute floor on the score in [0, 1]; 0.08 is ~20/255 of HSV change.
    ratio: how many times the local median a score must reach.
    window: neighbours on each side that form the local median (scan steps).
    min_scene_steps: two cuts must be at least this many scan steps apart.
    """

    min_score: float = 0.08
    ratio: float = 3.0
    window: int = 4
    min_scene_steps: int = 2

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {self.min_score}")
        if self.ratio < 1.0:
            raise ValueError(f"ratio must be >= 1, got {self.ratio}")
        if self.window < 1 or self.min_scene_steps < 1:
            raise ValueError("window and min_scene_steps must be >= 1")


def detect_cuts(*signals: np.ndarray, options: CutOptions = CutOptions()) -> np.ndarray:
    """Scan positions (int64, increasing) where a new scene starts.

    signals: one or more (S,) change scores per scan step in [0, 1]; signal[i] compares
        scanned frame i with i - 1 and signal[0] is ignored. A step is a candidate when it
        is an outlier (see the module docstring) in *any* signal, and candidates are thinned
        by their mean score. Pass the scan's `pixel_delta` and `hist_delta`: a cut out of
        fast motion often stands out only in the histogram, and a cut between two shots of
        the same colours only in the pixels. Returned positions p satisfy 1 <= p < S.
    """
    if not signals:
        raise ValueError("detect_cuts needs at least one signal")
    stack = np.stack([np.asarray(s, dtype=np.float64) for s in signals])  # (K, S)
    n = stack.shape[1]
    if n < 2:
        return np.zeros(0, dtype=np.int64)
    hit = np.zeros(n, dtype=bool)
    for s in stack:
        baseline = _local_median(s, options.window)  # (S,)
        hit |= (s >= options.min_score) & (s >= options.ratio * baseline)
    hit[0] = False
    strength = stack.mean(axis=0)  # (S,)
    candidates = np.flatnonzero(hit)
    # strongest first; ties to the earlier position, so the result is deterministic
    order = candidates[np.lexsort((candidates, -strength[candidates]))]
    kept: list[int] = []
    for p in order:
        if all(abs(int(p) - q) >= options.min_scene_steps for q in kept):
            kept.append(int(p))
    return np.array(sorted(kept), dtype=np.int64)


def _local_median(s: np.ndarray, window: int) -> np.ndarray:
    """(S,) median of s over [i - window, i + window] without i itself (and without s[0])."""
    n = s.shape[0]
    out = np.zeros(n, dtype=np.float64)
    for i in range(n):
        lo, hi = max(1, i - window), min(n, i + window + 1)
        neighbours = np.concatenate([s[lo:i], s[i + 1 : hi]])
        out[i] = float(np.median(neighbours)) if neighbours.size else 0.0
    return out


def scan_cuts(scan: Scan, *, options: CutOptions = CutOptions()) -> tuple[np.ndarray, np.ndarray]:
    """(positions, frames): the scan steps that are hard cuts and each cut's first frame.

    positions: (C,) int64 scan steps (as `detect_cuts`); frames: (C,) int64 frame numbers,
    exact where the scan refined the step (`Scan.cut_index`), else the scanned frame after
    the cut. Steps refined down to adjacent frames that differ by less than
    `options.min_score` are not cuts (see the module docstring).
    """
    positions = detect_cuts(scan.pixel_delta, scan.hist_delta, options=options)  # (C,)
    sharp = scan.cut_sharpness[positions]  # (C,) NaN where not refined
    keep = ~(np.isfinite(sharp) & (sharp < options.min_score))
    positions = positions[keep]
    return positions, scan.cut_index[positions].astype(np.int64)
