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
by an average rate.

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
        fine = plan_segments(
            clock.info, cuts=clock.ticks_of(cuts), segment_seconds=segment_seconds, min_seconds=min_seconds,
            max_segments=max_segments,
        )
        return clock.frames_of(fine, info)
    fps = info.fps
    bounds = scene_bounds(info, cuts=cuts, min_seconds=min_seconds, max_scenes=max_segments)
    longest = max(1, math.floor(segment_seconds * fps), math.ceil(info.duration_s * fps / max_segments - 1e-9))
    longest = _longest_within(bounds, longest, max_segments)
    scenes = len(bounds) - 1
    segments: list[Segment] = []
    for k, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
        parts = math.ceil((stop - start) / longest)
        edges = [start + (stop - start) * j // parts for j in range(parts + 1)]
        for j, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
            if scenes == 1:
                reason = f"window {j + 1}/{parts}" if parts > 1 else "whole video"
            else:
                reason = f"scene {k + 1}" + (f" part {j + 1}/{parts}" if parts > 1 else "")
            segments.append(Segment(len(segments), a, b, a / fps, b / fps, reason))
    return tuple(segments)


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


FINE_RATE_CAP = 1000.0  # ticks per second at most: a millisecond is finer than any cut


@dataclass(frozen=True)
class FineClock:
    """A variable-rate video seen as a constant-rate one of `rate` ticks per second, fine enough
    that no two frames share a tick: frame i starts at tick round(t_i * rate). Planning on
    `info` (the tick video) and mapping back (`frames_of`) keeps every rule in seconds."""

    ticks: np.ndarray  # (F,) strictly increasing tick of each frame's start
    info: VideoInfo  # the tick video: `rate` fps, one "frame" per tick

    @property
    def rate(self) -> float:
        """Ticks per second."""
        return self.info.fps

    @classmethod
    def of(cls, video: VideoInfo) -> "FineClock":
        times = video.frame_times
        assert times is not None
        gaps = np.diff(times)  # (F-1,)
        shortest = float(gaps[gaps > 0].min()) if (gaps > 0).any() else 1.0 / video.fps
        rate = min(FINE_RATE_CAP, max(video.fps, 1.0 / shortest))
        step = np.arange(times.size)  # (F,)
        ticks = np.maximum.accumulate(np.round(times * rate).astype(np.int64) - step) + step  # (F,) strictly increasing
        count = max(int(ticks[-1]) + 1, round(video.duration_s * rate))
        tick_video = VideoInfo(
            path=video.path, fps=rate, frame_count=count, duration_s=count / rate,
            width=video.width, height=video.height, decoder=video.decoder,
        )
        return cls(ticks=ticks, info=tick_video)

    def ticks_of(self, frames: Sequence[int]) -> list[int]:
        """The ticks at which frames (cuts) start; out-of-range frames are dropped."""
        return [int(self.ticks[int(f)]) for f in frames if 0 <= int(f) < self.ticks.size]

    def frames_of(self, planned: Sequence[Segment], video: VideoInfo) -> tuple[Segment, ...]:
        """Tick segments as frame segments of `video`: each starts at the first frame starting in
        it. A segment in which no frame starts (one frame held across it) is left to the one
        before, which then lasts until the next frame: the segments still tile the video."""
        out: list[Segment] = []
        for segment in planned:
            a = int(np.searchsorted(self.ticks, segment.start_frame, side="left"))
            b = int(np.searchsorted(self.ticks, segment.stop_frame, side="left"))
            if b > a:
                out.append(Segment(len(out), a, b, video.boundary_time(a), video.boundary_time(b), segment.reason))
        return tuple(out)
