"""Dynamic sampling: more frames where the picture changes, fewer where it holds still.

A talk with one burst of demonstration, a sports clip with a long pre-game: uniform frames
pile up on the calm parts. Here frames are placed at equal steps of a *mixed* cumulative
curve over frame position x in [0, F]:

    M(x) = floor * x / F  +  (1 - floor) * C(x) / C(F)

where C is the cumulative visual change from the scan (`pixel_delta`, spread evenly over
the frames between two scanned frames). Frame j of N sits where M(x) = (j + 0.5) / N.
The uniform term is the floor: any stretch holding a fraction p of the video gets at
least about floor * p * N frames, so calm stretches are still seen. On a variable-frame-rate
video the floor is spread by time on screen (`VideoInfo.screen_shares`), not frame count:
a slide held for a minute at one frame a second is a minute, not sixty frames' worth. A single
frame held longer than 1/N of the video (a paused screen recording) counts 1/N of it, as in
`uniform` (`spacing.capped_durations`): its floor is one frame, not several of its neighbours,
and the rest of the floor goes where the frames are. A hard
cut is a large change concentrated in one scan step and attracts frames around it; use
`keyframe` for edited footage.

Encoder noise is no change. A still picture encoded with x264 is not bit-identical from
frame to frame: every keyframe redraws the texture noise (static colour bars: one step of
0.0013 at frame 250 of a minute), and the frames after a cut settle for a few frames
(0.0002-0.002 per pair). Normalised by C(F), that noise alone drew 6 of 8 frames into a
quarter second. So each scan step first loses `NOISE_DELTA` of its `pixel_delta` (which is
on the scale of `CutOptions.min_score`: 0.08, ~20/255 of mean hue/chroma/value change, is a
cut; `NOISE_DELTA` is ~1.5/255, above the keyframe and settling noise of x264, VP9 and
MPEG-4 at ordinary quality, below a box crossing a 64 px thumbnail in a quarter second).
With nothing above the noise (C(F) = 0) the plan is exactly the uniform one. And the
change term takes its full share (1 - floor) only once the change above the noise adds up
to a cut's worth (`FULL_CHANGE`); less change moves proportionally fewer frames off the
uniform plan, so a slightly noisier encoder (x264 at crf 40 reaches 0.015 at keyframes)
nudges a few frames instead of grabbing three quarters of them.

Each frame's reason says which term dominated where it landed: "change" or "floor".
"""

from __future__ import annotations

import numpy as np

from vlmcli.video.cut_rules import CutOptions
from vlmcli.video.metadata import VideoInfo
from vlmcli.video.sampling.base import FrameSampler, SampledFrame, SamplePlan
from vlmcli.video.sampling.options import SamplingOptions
from vlmcli.video.sampling.spacing import capped_durations, spread_unique
from vlmcli.video.sampling.uniform import UniformSampler
from vlmcli.video.scan import Scan

DEFAULT_FLOOR = 0.25  # a quarter of the budget is spent uniformly
NOISE_DELTA = 0.006  # pixel_delta per scan step that is encoder noise, not a visible change
FULL_CHANGE = CutOptions().min_score  # change above the noise that earns the full (1 - floor)


class DynamicSampler(FrameSampler):
    """Frame density proportional to visual change, over a uniform floor."""

    needs_scan = True

    def __init__(self, *, floor: float = DEFAULT_FLOOR) -> None:
        if not 0.0 < floor <= 1.0:
            raise ValueError(f"floor must be in (0, 1], got {floor}")
        self.floor = floor

    def select(self, info: VideoInfo, scan: Scan | None, *, options: SamplingOptions) -> SamplePlan:
        scan = self._require_scan(scan)
        n = options.budget(info)
        frame_count = info.frame_count
        density = change_density(scan, frame_count=frame_count, noise=NOISE_DELTA)  # (F,) change per frame
        total = float(density.sum())
        if total <= 0.0 or self.floor >= 1.0:
            return UniformSampler().select(info, scan, options=options)
        weight = (1.0 - self.floor) * min(1.0, total / FULL_CHANGE)  # the change term's share
        shares = info.screen_shares()  # (F,) time on screen, or None: 1 / F each
        if shares is not None:  # a frame held longer than one pick's time counts one pick's time
            capped = capped_durations(shares, n)[0]  # (F,)
            shares = capped / capped.sum() if (capped < shares).any() else shares
        uniform = (1.0 - weight) / frame_count if shares is None else (1.0 - weight) * shares  # () or (F,)
        mixed = uniform + weight * density / total  # (F,) sums to 1
        edges = np.concatenate([[0.0], np.cumsum(mixed)])  # (F+1,) M at frame boundaries
        targets = (np.arange(n) + 0.5) / n  # (n,)
        x = np.interp(targets, edges, np.arange(frame_count + 1, dtype=np.float64))  # (n,)
        idx = spread_unique(np.floor(x).astype(np.int64), stop=frame_count)  # (n,)
        uniform_share = np.broadcast_to(uniform, (frame_count,))  # (F,)
        frames = tuple(
            SampledFrame(
                index=int(i),
                t=info.time_of(int(i)),
                reason="change" if mixed[i] - uniform_share[i] > uniform_share[i] else "floor",
            )
            for i in idx
        )
        return SamplePlan(frames=frames)


def change_density(scan: Scan, *, frame_count: int, noise: float = 0.0) -> np.ndarray:
    """(frame_count,) float64: scan change spread evenly over the frames it covers.

    pixel_delta[p] measures the change from scanned frame p-1 to p, so it is spread over
    frames (indices[p-1], indices[p]]. Frames outside the scanned span get none.
    noise: subtracted from each step's delta first (a step at or below it adds nothing):
        encoder noise comes once per step, however many frames the step spans.
    """
    density = np.zeros(frame_count, dtype=np.float64)
    idx = np.clip(scan.indices, 0, frame_count - 1)
    above = np.maximum(scan.pixel_delta - noise, 0.0)  # (S,)
    for p in range(1, len(scan)):
        lo, hi = int(idx[p - 1]) + 1, int(idx[p]) + 1
        if hi > lo:
            density[lo:hi] += above[p] / (hi - lo)
    return density
