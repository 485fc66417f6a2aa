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
    equal frame counts are unequal times. A frame held on screen for longer than one stretch
    (a paused screen recording, a slide) is taken once, never bunched with its neighbours: the
    stretches are laid over the timeline with each frame's time on screen capped at one
    stretch (`capped_durations`), so the held frame counts one stretch long and the picks it
    would have taken are spread over the rest of the video, where the frames are. Where no
    frame is held that long this is the plain frame-on-screen-at-each-centre rule. Only a
    video whose frames mostly share start times can still collide; those picks are nudged to
    their neighbours (`spread_unique`), so n frames come back when the video has them.

    >>> time_centres(np.array([0.0, 0.1, 0.2, 5.0, 9.0]), duration=10.0, n=2).tolist()  # centres 2.5 s, 7.5 s
    [2, 3]
    >>> time_centres(np.array([0.0, 1.0, 2.0, 3.0, 60.0, 61.0, 62.0, 63.0]), duration=64.0, n=5).tolist()
    [0, 2, 3, 5, 7]
    """
    frames = np.asarray(times, dtype=np.float64)  # (F,)
    if n < 1 or n > frames.shape[0] or not duration > 0:
        raise ValueError(f"need 1 <= n <= {frames.shape[0]} frames and duration > 0, got n={n}, {duration}")
    ends = np.append(frames[1:], max(duration, float(frames[-1])))  # (F,) when each frame leaves the screen
    shown = ends - frames  # (F,) seconds on screen
    capped, step = capped_durations(shown, n)  # (F,), ()
    seen = np.flatnonzero(capped > 0)  # (S,) frames on screen for any time at all
    if (capped < shown).any() and seen.shape[0] >= n:  # a frame held longer than a stretch: squeeze it to one
        cut_away = np.concatenate([[0.0], np.cumsum(shown - capped)[:-1]])  # (F,) time squeezed out before
        squeezed = (frames - cut_away)[seen]  # (S,) their starts on the squeezed timeline, increasing
        centres = (np.arange(n, dtype=np.float64) + 0.5) * step  # (n,)
        on_screen = np.searchsorted(squeezed, centres, side="right") - 1  # (n,) positions in `seen`
        return seen[spread_unique(on_screen, stop=seen.shape[0])]  # a rounding tie nudges to a seen frame
    centres = (np.arange(n, dtype=np.float64) + 0.5) * (duration / n)  # (n,) seconds
    on_screen = np.searchsorted(frames, centres, side="right") - 1  # (n,) last frame starting <= centre
    return spread_unique(on_screen, stop=frames.shape[0])


def capped_durations(durations: np.ndarray, n: int) -> tuple[np.ndarray, float]:
    """((F,) durations, step): `durations` each capped at `step`, where `step` is 1/n of the
    capped total, so that n equal steps over the capped durations put at most one step's
    centre in any item (an item one step long holds exactly one; a shorter one one or none).

    Found by water-filling: cap everything longer than total / n, recompute the step from what
    is left for the other n - k picks, repeat until nothing exceeds it. Nothing capped: the
    durations unchanged and step = their sum / n. The step is 0 only when fewer than n items
    have any duration at all. Requires n >= 1.

    >>> d, step = capped_durations(np.array([1.0, 1.0, 60.0, 1.0, 1.0]), 3)
    >>> d.tolist(), step
    ([1.0, 1.0, 2.0, 1.0, 1.0], 2.0)
    """
    d = np.asarray(durations, dtype=np.float64)  # (F,)
    capped = np.zeros(d.shape[0], dtype=bool)
    while True:  # at most F rounds; the step only falls, and fewer than n items are ever capped
        left = n - int(capped.sum())
        step = float(d[~capped].sum()) / left
        over = ~capped & (d > step)
        if not over.any():
            return np.where(capped, step, d), step
        capped |= over


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
