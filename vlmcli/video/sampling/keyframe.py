"""Keyframe sampling: find the scenes, then give every scene a representative frame.

Uniform sampling of an edited video (a trailer, a lecture with slides, a news segment)
wastes frames on long shots and skips short ones entirely. Here the video is split at
detected hard cuts (`cuts.py`) and the budget is spent scene by scene:

- budget >= scenes: every scene gets one frame, and the rest of the budget goes where the
  proportional share (budget * scene length / video length) is still short of what a
  scene has (largest remainder, capped by the scene's frame count): 10 frames over scenes
  of 50, 10 and 40 frames give 5, 1, 4.
  A scene with k frames gets the centres of k equal parts of it; k = 1 is its middle,
  which is the frame least likely to be mid-transition.
- budget < scenes: the longest scenes get one (middle) frame each; ties go to the earlier
  scene. The plan still lists every detected cut, so the caller can report them.

A scene starts at its cut's exact frame when the scan searched the change down to adjacent
frames (the default, `scan.py`), else at the first scanned frame after the cut.

On a variable-frame-rate video a scene's length stays its frame count, on purpose: recorders
write frames while the picture changes and few while it holds still, so a slide held for 30 s
at one frame a second counts 30 frames, not 30 seconds' worth, and the budget leans to the
scenes where something happens (as `dynamic` does). `uniform` is the one spaced by time.
"""

from __future__ import annotations

import numpy as np

from vlmcli.video.metadata import VideoInfo
from vlmcli.video.sampling.base import Cut, FrameSampler, SampledFrame, SamplePlan
from vlmcli.video.sampling.cuts import CutOptions, scan_cuts
from vlmcli.video.sampling.options import SamplingOptions
from vlmcli.video.sampling.spacing import fair_shares, segment_centres
from vlmcli.video.scan import Scan


class KeyframeSampler(FrameSampler):
    """Frames per scene, scenes split at hard cuts detected on a low-resolution scan."""

    needs_scan = True

    def __init__(self, *, cut_options: CutOptions = CutOptions()) -> None:
        self.cut_options = cut_options

    def select(self, info: VideoInfo, scan: Scan | None, *, options: SamplingOptions) -> SamplePlan:
        scan = self._require_scan(scan)
        positions, starts_at = scan_cuts(scan, options=self.cut_options)  # (C,) each
        score = scan.content  # (S,)
        cuts = tuple(
            Cut(index=int(i), t=info.time_of(int(i)), score=float(score[p]))
            for p, i in zip(positions, starts_at)
            if 0 < i < info.frame_count
        )
        bounds = np.array([0, *(c.index for c in cuts), info.frame_count], dtype=np.int64)
        starts, stops = bounds[:-1], bounds[1:]  # (K,) scene k is [starts[k], stops[k])
        counts = scene_counts(stops - starts, options.budget(info))  # (K,)
        frames: list[SampledFrame] = []
        for k, (start, stop, count) in enumerate(zip(starts, stops, counts)):
            if count == 0:
                continue
            for j, i in enumerate(segment_centres(start=int(start), stop=int(stop), n=int(count))):
                part = "mid" if count == 1 else f"part {j + 1}/{count}"
                reason = f"scene {k + 1} {part}"
                frames.append(SampledFrame(index=int(i), t=info.time_of(int(i)), reason=reason))
        return SamplePlan(frames=tuple(frames), cuts=cuts)


def scene_counts(lengths: np.ndarray, budget: int) -> np.ndarray:
    """(K,) frames per scene for scenes of `lengths` frames and a total `budget`.

    At least one per scene (the longest scenes if the budget is short), otherwise as close
    to proportional to length as that allows, never more than a scene's length.
    Sum == min(budget, sum(lengths)).
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    k = lengths.shape[0]
    budget = min(budget, int(lengths.sum()))
    counts = np.zeros(k, dtype=np.int64)
    if budget < k:
        longest = np.lexsort((np.arange(k), -lengths))[:budget]  # by length desc, then earlier
        counts[longest] = 1
        return counts
    # each scene's proportional target, less the frame it already has, is what it still wants
    want = np.maximum(budget * lengths / lengths.sum() - 1.0, 0.0)  # (K,)
    return 1 + fair_shares(want, budget - k, caps=lengths - 1)
