"""Hard cuts in a `Scan`: where the keyframe sampler and `video-summarize` split scenes.

A scan made by `scan_video` is dense around every change it found (`refine.py` searched
each changed step down to adjacent frames) and coarse elsewhere, so its steps are judged
by their width:

- a step between adjacent frames is a cut when it stands out against the adjacent pairs
  around it (`cut_rules.fine_cut`): exact to the frame, and motion or a fade that looked
  like a cut across a coarse step is not one;
- a wider step is a cut when the coarse detector flags it among the other wide steps
  (`cut_rules.detect_cuts`), unless the scan ruled a cut out there (`Scan.cut_sharpness`
  below the floor: refinement searched it and found none). In a fully refined scan no wide
  step is left undecided; in a scan made without refinement (or where its budget ran out,
  `Scan.degraded`) these cuts land on the scanned frame after the change.

The rules themselves (and `CutOptions`, `detect_cuts`) live in `video/cut_rules.py`, which
the scan also uses; they are re-exported here.
"""

from __future__ import annotations

import numpy as np

from vlmcli.video.cut_rules import CutOptions, detect_cuts, fine_cut
from vlmcli.video.scan import Scan

__all__ = ["CutOptions", "detect_cuts", "fine_cut", "scan_cuts"]


def scan_cuts(scan: Scan, *, options: CutOptions = CutOptions()) -> tuple[np.ndarray, np.ndarray]:
    """(positions, frames): the scan steps that are hard cuts and each cut's first frame.

    positions: (C,) int64 scan steps, increasing; frames: (C,) int64 `Scan.cut_index` of
    each (the step's own frame, exact for steps between adjacent frames).
    """
    width = np.diff(scan.indices)  # (S-1,) width of steps 1..S-1
    steps = np.arange(1, len(scan))
    cuts = [*_fine_cuts(scan, steps[width == 1], options), *_coarse_cuts(scan, steps[width > 1], options)]
    positions = np.array(sorted(cuts), dtype=np.int64)
    return positions, scan.cut_index[positions].astype(np.int64)


def _fine_cuts(scan: Scan, fine: np.ndarray, options: CutOptions) -> list[int]:
    """Steps between adjacent frames that are cuts, each judged within its run of such steps."""
    out: list[int] = []
    if fine.size == 0:
        return out
    breaks = np.flatnonzero(np.diff(fine) > 1) + 1
    for run in np.split(fine, breaks):  # consecutive steps: one contiguous stretch of frames
        pixel, hist = scan.pixel_delta[run], scan.hist_delta[run]
        out += [int(p) for k, p in enumerate(run) if fine_cut(pixel, hist, k, options=options)]
    return out


def _coarse_cuts(scan: Scan, wide: np.ndarray, options: CutOptions) -> list[int]:
    """Wide steps the coarse detector flags among the wide steps, less those ruled out."""
    if wide.size == 0:
        return []
    pixel = np.concatenate([[0.0], scan.pixel_delta[wide]])  # [0] is ignored by detect_cuts
    hist = np.concatenate([[0.0], scan.hist_delta[wide]])
    flagged = wide[detect_cuts(pixel, hist, options=options) - 1]  # (F,) scan steps
    sharp = scan.cut_sharpness[flagged]  # NaN: unknown; below the floor: ruled out
    return [int(p) for p in flagged[~(np.isfinite(sharp) & (sharp < options.min_score))]]
