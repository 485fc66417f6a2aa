"""Find every hard cut inside the coarse scan steps that changed, on a bounded budget.

A scan of an hour of video can afford a few hundred thumbnails, one every few seconds, so
it knows that the picture changed *somewhere* between two scanned frames `lo` and `hi`,
not where, nor how many times: on cut-heavy footage (shots of 1-8 s) a 6 s step often
holds two or three cuts. Each changed step is searched like this:

1. **Bisect**: decode the middle frame `m`, compare it with both ends, and keep the half
   that changed more (a hard cut puts all of its change on one side; motion splits it).
   A half whose ends differ by less than the cut floor holds no cut: the search stops.
2. **Close**: once the bracket is at most `LINEAR_SPAN` frames wide, read all of it plus
   `fine_window` frames either side in one go (to reach the middle frame the decoder
   decodes its neighbours anyway), take the adjacent pair that changed most, and judge it
   against the adjacent pairs around it (`cut_rules.fine_cut`): a cut stands out 10-50x,
   motion or a fade that only looked like a cut across a coarse step does not.
3. **Look again**: after a cut at frame c, the two remainders (lo, c-1) and (c, hi) are
   searched the same way if their own ends still differ, so several cuts in one step are
   all found. After a non-cut the step is done (motion would otherwise be chased forever).

All open searches advance one level per `read` call, so each level is one sorted batch for
the decoder, and frames already known are never read twice. The total number of frames
read is capped by `budget`; searches that do not fit are left unsettled (reported, so the
caller can say that detection was degraded). A `VideoError` from `read` stops the
refinement the same way. Pure: `read` is the only I/O, injected by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from vlmcli.errors import VideoError
from vlmcli.video.change import Features, feature_deltas
from vlmcli.video.cut_rules import CutOptions, fine_cut

LINEAR_SPAN = 4  # brackets this narrow are read whole instead of halved again


@dataclass(frozen=True, eq=False)
class Refinement:
    """What the search read and found.

    frames: (N,) int64 frames read by the search (none of them scanned), increasing.
    features: their `Features` (the thumbnails themselves are not kept).
    cuts: (C,) int64 first frames of the hard cuts found, increasing.
    unsettled: (U,) int64 scan steps whose search was cut short (budget or decode error).
    frames_read: N, the frames decoded for the search (<= the budget).
    error: the `VideoError` message that stopped the search, or None.
    """

    frames: np.ndarray
    features: Features
    cuts: np.ndarray
    unsettled: np.ndarray
    frames_read: int
    error: str | None = None


@dataclass(frozen=True)
class _Search:
    lo: int  # bracket (lo, hi]: both ends known
    hi: int
    first: int  # the stretch it started from, (first, last]: remainders are cut from it
    last: int
    rank: int  # priority (0 first): the scan step it came from

    def probes(self, *, frame_count: int, context: int) -> range | tuple[int]:
        if self.hi - self.lo > LINEAR_SPAN:
            return ((self.lo + self.hi) // 2,)
        return range(max(0, self.lo - context), min(frame_count - 1, self.hi + context) + 1)


def refine_changes(
    *,
    indices: np.ndarray,
    features: Features,
    positions: Sequence[int],
    read: Callable[[np.ndarray], np.ndarray],
    budget: int,
    frame_count: int,
    options: CutOptions = CutOptions(),
) -> Refinement:
    """Search scan steps `positions` for every hard cut they hold (see the module docstring).

    indices: (S,) int64 scanned frame numbers, increasing; features: their `Features`.
    positions: scan steps p (1 <= p < S) to search, most important first: when the budget
        runs short, the earlier ones get their frames.
    read: frame numbers (sorted, unique int64) -> uint8 (N, h, w, 3) thumbnails; may raise
        `VideoError`.
    budget: most frames `read` may return in total (>= 0).
    frame_count: frames in the video (context frames stay inside it).
    """
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    order = [int(p) for p in positions]
    if any(not 1 <= p < len(indices) for p in order):
        raise ValueError(f"positions must be in [1, {len(indices)}), got {order}")
    state = _Known(indices, features)
    active = [_Search(int(indices[p - 1]), int(indices[p]), int(indices[p - 1]), int(indices[p]), r)
              for r, p in enumerate(order)]
    unsettled: set[int] = set()
    cuts: list[int] = []
    error = None
    context = options.fine_window
    while active:
        wanted: set[int] = set()
        fits: list[_Search] = []
        for s in active:  # in priority order: a search goes on while its frames fit the budget
            need = {f for f in s.probes(frame_count=frame_count, context=context) if f not in state.rows} - wanted
            if state.read_count + len(wanted) + len(need) <= budget:
                wanted |= need
                fits.append(s)
            else:
                unsettled.add(s.rank)
        if not fits:
            break
        if wanted:
            try:
                state.add(np.array(sorted(wanted), dtype=np.int64), read)
            except VideoError as exc:
                error = str(exc)
                unsettled |= {s.rank for s in fits}
                break
        nxt: list[_Search] = []
        for s in fits:
            nxt += _advance(s, state, cuts=cuts, frame_count=frame_count, options=options)
        active = sorted(nxt, key=lambda s: (s.rank, s.lo))
    frames, feats = state.new()
    return Refinement(
        frames=frames, features=feats, cuts=np.array(sorted(cuts), dtype=np.int64),
        unsettled=np.array(sorted(order[r] for r in unsettled), dtype=np.int64),
        frames_read=state.read_count, error=error,
    )


def _advance(s: _Search, state: _Known, *, cuts: list[int], frame_count: int,
             options: CutOptions) -> list[_Search]:
    """The searches that follow `s` once its probes are known (none when it is done)."""
    if s.hi - s.lo > LINEAR_SPAN:  # halve: keep the side that changed more
        m = (s.lo + s.hi) // 2
        pix, hist = state.deltas([s.lo, m], [m, s.hi])  # (2,) each: left half, right half
        side = 1 if pix[1] + hist[1] >= pix[0] + hist[0] else 0
        if max(pix[side], hist[side]) < options.min_score:  # too little change left for a cut
            return []
        lo, hi = (m, s.hi) if side else (s.lo, m)
        return [_Search(lo, hi, s.first, s.last, s.rank)]
    frames = list(range(max(0, s.lo - options.fine_window), min(frame_count - 1, s.hi + options.fine_window) + 1))
    pix, hist = state.deltas(frames[:-1], frames[1:])  # (P,) each: pair k is frames[k], frames[k + 1]
    inside = [k for k in range(len(frames) - 1) if s.lo < frames[k + 1] <= s.hi]
    best = max(inside, key=lambda k: pix[k] + hist[k])
    if not fine_cut(pix, hist, best, options=options):
        return []
    cut = frames[best + 1]
    cuts.append(cut)
    out = []
    for a, b in ((s.first, cut - 1), (cut, s.last)):  # the rest of the stretch may hold more cuts
        if b - a >= 2:
            p, h = state.deltas([a], [b])
            if max(p[0], h[0]) >= options.min_score:
                out.append(_Search(a, b, a, b, s.rank))
    return out


class _Known:
    """Every frame known so far (scanned or read), and where its `Features` are kept."""

    def __init__(self, indices: np.ndarray, features: Features) -> None:
        self.chunks = [features]  # chunk 0: the scan; then one chunk per read
        self.rows = {int(f): (0, k) for k, f in enumerate(indices)}
        self.read_frames: list[np.ndarray] = []
        self.read_count = 0

    def add(self, batch: np.ndarray, read: Callable[[np.ndarray], np.ndarray]) -> None:
        feats = Features.of(read(batch))  # from (N, h, w, 3) uint8 thumbnails
        chunk = len(self.chunks)
        self.chunks.append(feats)
        self.rows.update({int(f): (chunk, k) for k, f in enumerate(batch)})
        self.read_frames.append(batch)
        self.read_count += int(batch.size)

    def gather(self, frames: Sequence[int]) -> Features:
        where = [self.rows[f] for f in frames]
        return Features(
            hcv=np.stack([self.chunks[c].hcv[k] for c, k in where]),
            hist=np.stack([self.chunks[c].hist[k] for c, k in where]),
        )

    def deltas(self, a: Sequence[int], b: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        return feature_deltas(self.gather(a), self.gather(b))

    def new(self) -> tuple[np.ndarray, Features]:
        """(frames, features) of the frames read, sorted by frame number."""
        if not self.read_frames:
            return np.zeros(0, dtype=np.int64), self.chunks[0].take(np.zeros(0, dtype=np.int64))
        frames = np.concatenate(self.read_frames)  # (N,)
        order = np.argsort(frames)
        return frames[order], Features.concat(self.chunks[1:]).take(order)
