"""How `vlm video-summarize` cut its segments, and why scene detection fell short if it did.

A summary that silently loses scenes reads as if the video had fewer of them, so whenever
detection is degraded the user is told: the command prints `SceneReport.warning()` on
stderr and `to_dict()` in `--json` (real run and dry run). Detection counts as degraded when

- the scan reports it (`Scan.degraded`: the detector gave up on part of the video),
- the scan could not be made at all (segments fall back to fixed windows), or
- the `max_segments` cap (40 with `--hierarchy flat`, 400 otherwise) merged real scenes.

Scenes shorter than the minimum segment length joining a neighbour is the design
(`segments.py`), not a degradation: it shows as `scenes` below the number of `cuts` + 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vlmcli.summaries.segments import DEFAULT_MIN_SECONDS, scene_counts
from vlmcli.video.metadata import VideoInfo
from vlmcli.video.scan import Scan

METHODS = ("scenes", "windows")


@dataclass(frozen=True)
class SceneReport:
    """What scene detection did for one summary plan.

    requested: scene detection was asked for (`--scenes`, the default).
    method: "scenes" (segments follow the cuts a scan found) or "windows" (fixed windows:
        `--no-scenes`, or the scan failed).
    cut_frames: first frames of the new scenes the scan found (before any merging); empty
        for windows.
    scenes: scenes the segments follow (after merging); None for windows.
    degraded: None, or one line saying why detection fell short (see the module docstring).
    """

    requested: bool
    method: str
    cut_frames: tuple[int, ...] = ()
    scenes: int | None = None
    degraded: str | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if (self.method == "scenes") != (self.scenes is not None):
            raise ValueError("scenes is set exactly when the method is 'scenes'")
        if self.degraded is not None and ("\n" in self.degraded or not self.degraded.strip()):
            raise ValueError("degraded must be one non-empty line")

    @property
    def cuts(self) -> int:
        """Hard cuts the scan found."""
        return len(self.cut_frames)

    def to_dict(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "method": self.method,
            "cuts": self.cuts,
            "scenes": self.scenes,
            "cut_frames": list(self.cut_frames),
            "degraded": self.degraded,
        }

    def warning(self) -> str | None:
        """The stderr line (without the "warning: " prefix), or None when nothing fell short."""
        return None if self.degraded is None else f"scene detection degraded: {self.degraded}"


def _sentence(parts: Sequence[str]) -> str | None:
    """Reasons joined into one line: "a; b." (None when there are none)."""
    cleaned = [" ".join(p.split()).rstrip(".") for p in parts if p and p.strip()]
    return "; ".join(cleaned) + "." if cleaned else None


def report_scenes(
    info: VideoInfo,
    *,
    requested: bool,
    scan: Scan | None,
    scan_error: str | None,
    cuts: Sequence[int],
    max_segments: int,
    cap_hint: str = "",
    min_seconds: float = DEFAULT_MIN_SECONDS,
) -> SceneReport:
    """The report for a plan made from `scan` (None when none was made or it failed).

    scan_error: why the scan failed (its error message), else None.
    cuts: the cut frames found in `scan` (`sampling.cuts.scan_cuts`); ignored unless requested.
    max_segments, min_seconds: as given to `segments.plan_segments`.
    cap_hint: appended to the reason when the cap merged scenes (which flag to change).
    """
    reasons: list[str] = []
    if scan_error is not None:
        fallback = "segments are fixed windows" if requested else "frames are sampled uniformly"
        reasons.append(f"the scene scan failed ({scan_error.rstrip('.')}), so {fallback}")
    if scan is not None and scan.degraded:
        reasons.append(scan.degraded)
    if not requested or scan is None:
        return SceneReport(requested=requested, method="windows", degraded=_sentence(reasons))
    counts = scene_counts(info, cuts=cuts, min_seconds=min_seconds, max_segments=max_segments)
    if counts.capped:
        reasons.append(
            f"{counts.capped} of {counts.natural} scenes were merged into their neighbours to keep at most "
            f"{max_segments} segments{cap_hint}"
        )
    found = tuple(sorted({int(c) for c in cuts if 0 < int(c) < info.frame_count}))
    return SceneReport(
        requested=True, method="scenes", cut_frames=found, scenes=counts.kept, degraded=_sentence(reasons)
    )
