"""When a change between frames is a hard cut: the two tests, on plain arrays of deltas.

A fixed threshold (PySceneDetect's ContentDetector default of 27/255) fires on every
frame of a fast pan and misses a cut between two similar-looking shots. Both tests here
instead ask whether a change is an outlier against its neighbourhood, like PySceneDetect's
AdaptiveDetector, and each signal (pixel and histogram deltas, `change.py`) is tested on
its own: a pair is a cut if either test fires (the histogram is nearly blind to motion,
the pixels see a cut between two shots of the same colours).

- `detect_cuts`, on a coarse scan (thumbnails seconds apart): a step is a candidate when
  its score is above `min_score` and `ratio` times the median of the `window` steps either
  side. Candidates closer than `min_scene_steps` are thinned, strongest first. It can only
  work while most steps hold no cut: when shots are shorter than the scan step (a
  cut-heavy hour scanned every 6 s) every step changes and nothing stands out, which is
  why the scan refines every step that changed (`refine.py`) instead of trusting it alone.
- `fine_cut`, on adjacent frames: the pair's delta must be above `min_score` and
  `fine_ratio` times the mean delta of the `fine_window` adjacent pairs either side.
  Steady motion changes every pair alike; an encoder's keyframe (a small jump in texture
  noise every GOP) stays under the floor or the ratio, once the deltas ignore the hue of
  grey pixels (`change.py`: x264 redraws their chroma noise at keyframes, which swung HSV
  deltas by up to 0.29); a cut is 10-50x its neighbours.

Gradual transitions (fades, dissolves) spread their change over many frames and are, by
design, not reported. Pure numpy; `sampling/cuts.py` applies these to a `Scan`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CutOptions:
    """Tuning of the cut tests; the defaults work on the synthetic and real clips in bench/.

    min_score: absolute floor on a delta in [0, 1]; 0.08 is ~20/255 of hue/chroma/value change.
    ratio: how many times the local median a coarse step's score must reach.
    window: neighbours on each side that form the local median (scan steps).
    min_scene_steps: two coarse cuts must be at least this many scan steps apart.
    fine_ratio: how many times its neighbours' mean delta an adjacent pair must reach
        (measured: cuts are >= 10x, motion ~1x; keyframes can reach 15x, so the floor is
        what rules them out: <= 0.033 on x264 ultrafast footage of grey photos, where HSV
        deltas had them at up to 0.29).
    fine_window: adjacent pairs on each side that form that mean.
    """

    min_score: float = 0.08
    ratio: float = 3.0
    window: int = 4
    min_scene_steps: int = 2
    fine_ratio: float = 5.0
    fine_window: int = 2

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {self.min_score}")
        if self.ratio < 1.0 or self.fine_ratio < 1.0:
            raise ValueError(f"ratio and fine_ratio must be >= 1, got {self.ratio}, {self.fine_ratio}")
        if self.window < 1 or self.min_scene_steps < 1 or self.fine_window < 1:
            raise ValueError("window, min_scene_steps and fine_window must be >= 1")


def detect_cuts(*signals: np.ndarray, options: CutOptions = CutOptions()) -> np.ndarray:
    """Scan positions (int64, increasing) where a new scene starts, on coarse signals.

    signals: one or more (S,) change scores per scan step in [0, 1]; signal[i] compares
        scanned frame i with i - 1 and signal[0] is ignored. A step is a candidate when it
        is an outlier (see the module docstring) in *any* signal, and candidates are thinned
        by their mean score. Returned positions p satisfy 1 <= p < S.
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


def fine_cut(pixel: np.ndarray, hist: np.ndarray, at: int, *, options: CutOptions = CutOptions()) -> bool:
    """Is adjacent pair `at` a hard cut, judged against the adjacent pairs around it?

    pixel, hist: (P,) deltas of a run of P consecutive adjacent-frame pairs (pair k compares
        frames f + k and f + k + 1); `at` indexes the pair tested. Pairs within
        `fine_window` of it are its context; with no context (a run of one pair) only the
        floor applies.
    """
    lo, hi = max(0, at - options.fine_window), min(len(pixel), at + options.fine_window + 1)
    around = [k for k in range(lo, hi) if k != at]
    for s in (pixel, hist):
        context = float(np.mean(s[around])) if around else 0.0
        if s[at] >= options.min_score and s[at] >= options.fine_ratio * context:
            return True
    return False


def _local_median(s: np.ndarray, window: int) -> np.ndarray:
    """(S,) median of s over [i - window, i + window] without i itself (and without s[0])."""
    n = s.shape[0]
    out = np.zeros(n, dtype=np.float64)
    for i in range(n):
        lo, hi = max(1, i - window), min(n, i + window + 1)
        neighbours = np.concatenate([s[lo:i], s[i + 1 : hi]])
        out[i] = float(np.median(neighbours)) if neighbours.size else 0.0
    return out
