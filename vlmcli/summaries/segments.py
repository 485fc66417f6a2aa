"""Cut a video into the segments `vlm video-summarize` describes one at a time (pure planning).

A summary of a long video is built from descriptions of its parts, and the parts should
be the video's own: scenes, split at the hard cuts a scan found. Three rules keep them
useful to a model:

- a scene longer than `segment_seconds` is split into equal windows no longer than that
  (a 20-minute lecture shot is not one "scene" worth one sentence);
- a scene shorter than `min_seconds` joins its neighbour (a 0.3 s flash or a
  quick-cut montage is not worth an engine call of its own);
- at most `max_segments` segments: the shortest scenes merge first, and windows grow (to at
  least duration / max_segments on long videos, longer while scenes split into more parts
  than that), so the final summary prompt (one line per segment) stays within a model's
  context. Merging for this cap loses real cuts, so
  `scene_counts` tells the caller how many scenes it cost (the summary reports it).

Variable-frame-rate video (phone footage, screen and meeting recordings: `VideoInfo.frame_times`)
is planned on a fine constant-rate clock laid over its real times (`FineClock`), so windows,
the shortest scene and the printed times are seconds of the video, not frame counts divided
by an average rate. A window in which no frame starts (one frame held across it: a screen
recording paused for a minute) has nothing of its own to show; it joins the segment before,
which then lasts until the next frame (showing the held frame at its real time), and the parts
left are numbered again: 10 s windows over a 70 s recording paused from 5 s to 65 s give
"window 1/2" (0-65 s) and "window 2/2" (65-70 s), not windows 1/7 and 7/7. What a hold leaves
of a window after it (less than `min_seconds` and less than half the window) joins the next
part of its scene, or the part before if it is the scene's last, rather than being described
on its own.

With no cuts (or `scenes=False` at the caller) this is plain fixed windows. Each segment
then gets its own frame plan from a sampler run on a segment-local view of the video
(`segment_info`, `segment_scan`), so frames are spread within the segment and memory
stays bounded by one segment's frames, whatever the video's length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vlmcli.summaries.fine_clock import FineClock, Window, absorb_slivers, renumbered
from vlmcli.video.metadata import VideoInfo
from vlmcli.video.sampling.base import SampledFrame, SamplePlan
from vlmcli.video.scan import Scan

DEFAULT_SEGMENT_SECONDS = 30.0  # a few sentences' worth of action
DEFAULT_MIN_SECONDS = 2.0  # shorter scenes join a neighbour
DEFAULT_MAX_SEGMENTS = 40  # ~40 one-line descriptions fit any model's context


@dataclass(frozen=True)
class Segment:
    """Frames [start_frame, stop_frame) of a video.

    start_s / end_s: the times of those frame boundaries (`VideoInfo.boundary_time`):
        start_frame / fps and stop_frame / fps on constant-rate video.
    reason: why it exists, e.g. "scene 2", "scene 3 part 1/4", "window 5/12".
    """

    index: int
    start_frame: int
    stop_frame: int
    start_s: float
    end_s: float
    reason: str

    def __post_init__(self) -> None:
        if not 0 <= self.start_frame < self.stop_frame:
            raise ValueError(f"segment needs 0 <= start < stop, got [{self.start_frame}, {self.stop_frame})")

    @property
    def frame_count(self) -> int:
        return self.stop_frame - self.start_frame


def _merge_short(bounds: list[int], min_frames: int, max_scenes: int) -> list[int]:
    """Scene boundaries [0, c1, ..., F], the shortest scene folded into a neighbour while it is
    shorter than `min_frames` or there are more than `max_scenes` scenes."""
    out = list(bounds)
    changed = True
    while changed and len(out) > 2:
        changed = False
        lengths = np.diff(out)
        shortest = int(np.argmin(lengths))
        if lengths[shortest] < min_frames or len(lengths) > max_scenes:
            # drop the boundary towards the shorter neighbour (first/last scenes have one)
            left = lengths[shortest - 1] if shortest > 0 else None
            right = lengths[shortest + 1] if shortest + 1 < len(lengths) else None
            drop = shortest if right is None or (left is not None and left <= right) else shortest + 1
            del out[drop]
            changed = True
    return out


def plan_segments(
    info: VideoInfo,
    *,
    cuts: Sequence[int] = (),
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS,
    min_seconds: float = DEFAULT_MIN_SECONDS,
    max_segments: int = DEFAULT_MAX_SEGMENTS,
) -> tuple[Segment, ...]:
    """Segments covering every frame of `info`'s video once, in order.

    cuts: first frames of new scenes (from `sampling.cuts.detect_cuts` on a scan); out of
        range or duplicate values are ignored.
    segment_seconds: longest segment; longer scenes are split into equal windows.
    min_seconds: shortest scene kept on its own.
    max_segments: the most segments (see the module docstring).
    """
    if not (segment_seconds > 0 and math.isfinite(segment_seconds)) or max_segments < 1:
        raise ValueError(f"need segment_seconds > 0 and max_segments >= 1, got {segment_seconds}, {max_segments}")
    if info.frame_times is not None:
        clock = FineClock.of(info)
        ticks, scenes = _windows(clock.info, cuts=clock.ticks_of(cuts), segment_seconds=segment_seconds,
                                 min_seconds=min_seconds, max_segments=max_segments)
        windows = renumbered(absorb_slivers(clock.frames_of(ticks), info=info, min_seconds=min_seconds))
        times = [(info.boundary_time(w.start), info.boundary_time(w.stop)) for w in windows]
    else:
        windows, scenes = _windows(info, cuts=cuts, segment_seconds=segment_seconds, min_seconds=min_seconds,
                                   max_segments=max_segments)
        times = [(w.start / info.fps, w.stop / info.fps) for w in windows]
    return tuple(
        Segment(n, w.start, w.stop, start_s, end_s, w.reason(scenes)) for n, (w, (start_s, end_s)) in
        enumerate(zip(windows, times))
    )


def _windows(
    info: VideoInfo, *, cuts: Sequence[int], segment_seconds: float, min_seconds: float, max_segments: int
) -> tuple[list[Window], int]:
    """The windows of a constant-rate video (`plan_segments`' rules) and how many scenes they follow."""
    fps = info.fps
    bounds = scene_bounds(info, cuts=cuts, min_seconds=min_seconds, max_scenes=max_segments)
    longest = max(1, math.floor(segment_seconds * fps), math.ceil(info.duration_s * fps / max_segments - 1e-9))
    longest = _longest_within(bounds, longest, max_segments)
    windows: list[Window] = []
    for k, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
        parts = math.ceil((stop - start) / longest)
        edges = [start + (stop - start) * j // parts for j in range(parts + 1)]
        windows += [Window(a, b, k, j, parts) for j, (a, b) in enumerate(zip(edges[:-1], edges[1:]))]
    return windows, len(bounds) - 1


def _parts(bounds: Sequence[int], longest: int) -> int:
    """Segments the scenes between `bounds` make when split into windows of at most `longest` frames."""
    return sum(math.ceil((b - a) / longest) for a, b in zip(bounds[:-1], bounds[1:]))


def _longest_within(bounds: Sequence[int], longest: int, most: int) -> int:
    """The shortest window length from `longest` up with which the scenes make at most `most`
    segments (found by bisection: the count only falls as windows grow; at the longest
    scene's length it is the scene count, which `scene_bounds` keeps within `most`)."""
    if _parts(bounds, longest) <= most:
        return longest
    low, high = longest, max(longest, max(b - a for a, b in zip(bounds[:-1], bounds[1:])))
    while low < high:
        middle = (low + high) // 2
        if _parts(bounds, middle) <= most:
            high = middle
        else:
            low = middle + 1
    return high


def scene_bounds(
    info: VideoInfo,
    *,
    cuts: Sequence[int] = (),
    min_seconds: float = DEFAULT_MIN_SECONDS,
    max_scenes: int | None = DEFAULT_MAX_SEGMENTS,
) -> list[int]:
    """Scene boundaries [0, c1, ..., frame_count] after merging (see `plan_segments`).

    Scenes shorter than `min_seconds` fold into a neighbour, then the shortest scenes fold
    while there are more than `max_scenes` (None: no cap). Out-of-range or duplicate cuts are
    ignored.
    """
    count = info.frame_count
    inner = sorted({int(c) for c in cuts if 0 < int(c) < count})
    cap = count if max_scenes is None else max_scenes
    return _merge_short([0, *inner, count], max(1, round(min_seconds * info.fps)), cap)


@dataclass(frozen=True)
class SceneCounts:
    """What merging did to the cuts a scan found.

    found: scenes the cuts make (cuts + 1, after dropping duplicates and out-of-range ones).
    natural: scenes left once scenes shorter than `min_seconds` joined a neighbour (by design).
    kept: scenes the segments follow, after the `max_segments` cap; natural - kept scenes
        were merged only to respect the cap.
    """

    found: int
    natural: int
    kept: int

    def __post_init__(self) -> None:
        if not 1 <= self.kept <= self.natural <= self.found:
            raise ValueError(f"need 1 <= kept <= natural <= found, got {self.kept}, {self.natural}, {self.found}")

    @property
    def capped(self) -> int:
        """Scenes lost to the segment cap."""
        return self.natural - self.kept


def scene_counts(
    info: VideoInfo,
    *,
    cuts: Sequence[int],
    min_seconds: float = DEFAULT_MIN_SECONDS,
    max_segments: int = DEFAULT_MAX_SEGMENTS,
) -> SceneCounts:
    """How many of the scenes `cuts` make survive `plan_segments` with the same arguments."""
    if info.frame_times is not None:
        clock = FineClock.of(info)
        return scene_counts(clock.info, cuts=clock.ticks_of(cuts), min_seconds=min_seconds, max_segments=max_segments)
    found = len({int(c) for c in cuts if 0 < int(c) < info.frame_count}) + 1
    natural = len(scene_bounds(info, cuts=cuts, min_seconds=min_seconds, max_scenes=None)) - 1
    kept = len(scene_bounds(info, cuts=cuts, min_seconds=min_seconds, max_scenes=max_segments)) - 1
    return SceneCounts(found=found, natural=natural, kept=kept)


def segment_info(info: VideoInfo, segment: Segment) -> VideoInfo:
    """A `VideoInfo` of the segment alone, frame 0 = its first frame (for the samplers)."""
    times = None
    if info.frame_times is not None:
        times = info.frame_times[segment.start_frame : segment.stop_frame] - segment.start_s  # (n,) from 0
    return VideoInfo(
        path=info.path,
        fps=info.fps,
        frame_count=segment.frame_count,
        duration_s=segment.frame_count / info.fps if times is None else segment.end_s - segment.start_s,
        width=info.width,
        height=info.height,
        frame_times=times,
    )


def segment_scan(scan: Scan | None, segment: Segment) -> Scan | None:
    """The part of a whole-video scan inside the segment, re-indexed from 0; None if it has none."""
    if scan is None:
        return None
    keep = (scan.indices >= segment.start_frame) & (scan.indices < segment.stop_frame)
    if not keep.any():
        return None
    pixel, hist = scan.pixel_delta[keep].copy(), scan.hist_delta[keep].copy()
    pixel[0] = hist[0] = 0.0  # the first scanned frame of the segment compares with nothing in it
    indices = scan.indices[keep] - segment.start_frame
    cut_index, sharpness = scan.cut_index[keep] - segment.start_frame, scan.cut_sharpness[keep].copy()
    cut_index[0], sharpness[0] = indices[0], np.nan  # ...so it carries no change either
    return Scan(
        indices=indices,
        timestamps=scan.timestamps[keep] - segment.start_s,
        pixel_delta=pixel,
        hist_delta=hist,
        cut_index=cut_index,
        cut_sharpness=sharpness,
    )


def shift_plan(plan: SamplePlan, segment: Segment, info: VideoInfo) -> SamplePlan:
    """A segment-local plan in whole-video frame numbers and times (`info`: the whole video)."""
    frames = tuple(
        SampledFrame(
            index=f.index + segment.start_frame, t=info.time_of(f.index + segment.start_frame), reason=f.reason
        )
        for f in plan.frames
    )
    return SamplePlan(frames=frames)


def on_file_timeline(segment: Segment, plan: SamplePlan, *, start_s: float) -> tuple[Segment, SamplePlan]:
    """The segment and its (whole-video) frame plan with every time moved `start_s` later: from
    the first frame's clock, on which everything is planned, to the file's timeline, which a
    player and subtitles show (`VideoInfo.start_s`). Frame numbers are unchanged."""
    if start_s == 0:
        return segment, plan
    moved = Segment(segment.index, segment.start_frame, segment.stop_frame, segment.start_s + start_s,
                    segment.end_s + start_s, segment.reason)
    frames = tuple(SampledFrame(index=f.index, t=f.t + start_s, reason=f.reason) for f in plan.frames)
    return moved, SamplePlan(frames=frames, cuts=plan.cuts)
