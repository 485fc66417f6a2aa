"""Locate each change a coarse scan found to the exact frame, by bisection, on a bounded budget.

A scan of an hour of video can afford a few hundred thumbnails, one every few seconds, so
it knows a cut lies *somewhere* between two scanned frames `lo` and `hi`. Bisection finds
where: decode the middle frame `m`, compare it with both ends, and keep the half that
changed more (a hard cut puts all of its change on one side; steady motion splits it).
After log2(hi - lo) steps the two frames are adjacent, and their own difference (the
"sharpness") tells a hard cut (adjacent frames still differ a lot) from motion or a fade
that only looked like a cut at a coarse step (adjacent frames barely differ).

All candidates advance one level per `read` call, so each level is one sorted batch for
the decoder. Once a bracket is at most `LINEAR_SPAN` frames wide, its inner frames are read
in one go and the largest adjacent change wins: to reach the middle frame the decoder
decodes its neighbours anyway, so one contiguous read costs about what one more
bisection step would, and saves the remaining seeks. The total number of frames read is capped by `budget`; candidates that do not
fit keep the best bracket found so far (their `cut_index` is the bracket's upper end, and
their sharpness stays unknown). Pure: `read` is the only I/O, injected by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from vlmcli.video.change import frame_deltas

LINEAR_SPAN = 8  # brackets this narrow are read whole instead of halved again


@dataclass(frozen=True, eq=False)
class Refinement:
    """Where each refined scan step's change really happens.

    positions: (C,) int64 scan steps that were refined (a change between scanned frames
        p - 1 and p).
    cut_index: (C,) int64 first frame of the new picture (exact when `sharpness` is known).
    sharpness: (C,) float64 max(pixel, histogram) delta between frames cut_index - 1 and
        cut_index, in [0, 1]; NaN where the budget ran out before the bracket closed.
    frames_read: frames decoded for the bisection, <= the budget.
    """

    positions: np.ndarray
    cut_index: np.ndarray
    sharpness: np.ndarray
    frames_read: int


def bisect_changes(
    *,
    indices: np.ndarray,
    thumbs: np.ndarray,
    positions: Sequence[int],
    read: Callable[[np.ndarray], np.ndarray],
    budget: int,
) -> Refinement:
    """Bisect every scan step in `positions` down to two adjacent frames.

    indices: (S,) int64 scanned frame numbers, increasing.
    thumbs: uint8 (S, h, w, 3) the scanned thumbnails.
    positions: scan steps p (1 <= p < S) to refine, most important first: when the budget
        runs short, the earlier ones get their frames.
    read: frame numbers (sorted, unique int64) -> uint8 (N, h, w, 3) thumbnails.
    budget: most frames `read` may return in total (>= 0).
    """
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    order = [int(p) for p in positions]
    if any(not 1 <= p < len(indices) for p in order):
        raise ValueError(f"positions must be in [1, {len(indices)}), got {order}")
    lo = {p: int(indices[p - 1]) for p in order}
    hi = {p: int(indices[p]) for p in order}
    lo_px = {p: thumbs[p - 1] for p in order}  # (h, w, 3) each
    hi_px = {p: thumbs[p] for p in order}
    used = 0
    active = [p for p in order if hi[p] - lo[p] > 1]
    while active:
        fits: list[int] = []
        wanted: set[int] = set()
        for p in active:  # priority order: a candidate joins while its frames fit the budget
            need = set(_probes(lo[p], hi[p])) - wanted
            if used + len(wanted) + len(need) <= budget:
                wanted |= need
                fits.append(p)
        if not fits:
            break
        batch = np.array(sorted(wanted), dtype=np.int64)  # (N,)
        pixels = read(batch)  # (N, h, w, 3) uint8
        used += int(batch.size)
        row = {int(i): k for k, i in enumerate(batch)}
        for p in fits:
            frames = [lo[p], *_probes(lo[p], hi[p]), hi[p]]  # increasing frame numbers
            px = np.stack([lo_px[p], *(pixels[row[i]] for i in frames[1:-1]), hi_px[p]])  # (n, h, w, 3)
            if len(frames) == 3:  # halve: keep the side that changed more
                pix, hist = frame_deltas(px[:-1], px[1:])  # (2,) each: left half, right half
                side = 1 if pix[1] + hist[1] >= pix[0] + hist[0] else 0
            else:  # narrow: the largest step between adjacent frames
                pix, hist = frame_deltas(px[:-1], px[1:])  # (n-1,) each
                side = int(np.argmax(pix + hist))
            lo[p], lo_px[p] = frames[side], px[side]
            hi[p], hi_px[p] = frames[side + 1], px[side + 1]
        active = [p for p in fits if hi[p] - lo[p] > 1]
    sharp = np.full(len(order), np.nan, dtype=np.float64)
    closed = [k for k, p in enumerate(order) if hi[p] - lo[p] == 1]
    if closed:
        pix, hist = frame_deltas(
            np.stack([lo_px[order[k]] for k in closed]), np.stack([hi_px[order[k]] for k in closed])
        )
        sharp[closed] = np.maximum(pix, hist)
    return Refinement(
        positions=np.array(order, dtype=np.int64),
        cut_index=np.array([hi[p] for p in order], dtype=np.int64),
        sharpness=sharp,
        frames_read=used,
    )


def _probes(lo: int, hi: int) -> list[int]:
    """Frames to read inside the bracket (lo, hi): its middle, or all of it once it is narrow."""
    if hi - lo <= LINEAR_SPAN:
        return list(range(lo + 1, hi))
    return [(lo + hi) // 2]
