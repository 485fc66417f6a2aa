"""Small pure helpers shared by the samplers: even spacing, de-duplication, fair shares.

Kept apart from the samplers because they are the fiddly integer arithmetic (rounding,
collisions, remainders) that each sampler would otherwise get subtly different.
"""

from __future__ import annotations

import numpy as np


def segment_centres(*, start: int, stop: int, n: int) -> np.ndarray:
    """(n,) int64: the frame at the centre of each of `n` equal segments of [start, stop).

    Centre j is floor(start + (j + 0.5) * (stop - start) / n). Centres (rather than
    `linspace(start, stop - 1, n)`) never pick the very first and last frames, which are
    often black or mid-fade, and give each frame an equal share of the time.

    >>> segment_centres(start=0, stop=100, n=4).tolist()
    [12, 37, 62, 87]
    """
    if n < 1 or stop <= start:
        raise ValueError(f"need n >= 1 and start < stop, got n={n}, [{start}, {stop})")
    length = stop - start
    j = np.arange(n, dtype=np.int64)
    return start + ((2 * j + 1) * length) // (2 * n)  # exact integer floor, no float drift


def time_centres(times: np.ndarray, *, duration: float, n: int) -> np.ndarray:
    """(n,) int64 strictly increasing: the frame on screen at the centre of each of `n` equal
    stretches of [0, duration), given each frame's start time (non-decreasing, from 0).

    `segment_centres` by time rather than by frame number, for variable-frame-rate video, where
    equal frame counts are unequal times. Frames held across several centres are spread to
    their neighbours (`spread_unique`), so n frames come back when the video has them.

    >>> time_centres(np.array([0.0, 0.1, 0.2, 5.0, 9.0]), duration=10.0, n=2).tolist()
    [2, 4]
    """
    frames = np.asarray(times, dtype=np.float64)  # (F,)
    if n < 1 or n > frames.shape[0] or not duration > 0:
        raise ValueError(f"need 1 <= n <= {frames.shape[0]} frames and duration > 0, got n={n}, {duration}")
    centres = (np.arange(n, dtype=np.float64) + 0.5) * (duration / n)  # (n,) seconds
    on_screen = np.searchsorted(frames, centres, side="right") - 1  # (n,) last frame starting <= centre
    return spread_unique(on_screen, stop=frames.shape[0])


def spread_unique(positions: np.ndarray, *, stop: int) -> np.ndarray:
    """Sorted int positions in [0, stop) nudged to be strictly increasing, count kept.

    Collisions (two samples rounding to the same frame) push later samples forward and,
    at the end of the video, earlier ones back; each sample moves as little as possible.
    Requires len(positions) <= stop.
    """
    pos = np.sort(np.asarray(positions, dtype=np.int64))
    n = pos.shape[0]
    if n > stop:
        raise ValueError(f"cannot place {n} distinct frames in {stop}")
    pos = np.clip(pos, 0, stop - 1)
    for i in range(1, n):  # forward: at least one after the previous
        pos[i] = max(pos[i], pos[i - 1] + 1)
    for i in range(n - 1, -1, -1):  # backward: leave room for the ones after
        pos[i] = min(pos[i], stop - (n - i))
    return pos


def fair_shares(weights: np.ndarray, total: int, *, caps: np.ndarray) -> np.ndarray:
    """(K,) int64 shares of `total` proportional to `weights`, each at most `caps[k]`.

    Largest-remainder rounding; ties go to the earlier item, so the result is deterministic.
    What a capped item cannot take is shared among the others. Requires total <= caps.sum().
    """
    w = np.asarray(weights, dtype=np.float64)
    caps = np.asarray(caps, dtype=np.int64)
    if total > int(caps.sum()):
        raise ValueError(f"cannot share {total} among capacities summing to {int(caps.sum())}")
    shares = np.zeros(w.shape[0], dtype=np.int64)
    left = total
    while left > 0:
        open_ = shares < caps
        ww = np.where(open_, w, 0.0)
        if ww.sum() <= 0:
            ww = open_.astype(np.float64)
        ideal = ww / ww.sum() * left
        add = np.minimum(np.floor(ideal).astype(np.int64), caps - shares)
        remainder = left - int(add.sum())
        if remainder > 0:  # hand out the rest by largest fractional part, earlier first
            frac = np.where(open_ & (shares + add < caps), ideal - np.floor(ideal), -1.0)
            order = np.lexsort((np.arange(w.shape[0]), -frac))
            for k in order[:remainder]:
                if frac[k] >= 0:
                    add[k] += 1
        if int(add.sum()) == 0:  # only possible when every fraction is tiny: give one each
            for k in np.flatnonzero(open_)[:left]:
                add[k] += 1
        shares += add
        left = total - int(shares.sum())
    return shares
