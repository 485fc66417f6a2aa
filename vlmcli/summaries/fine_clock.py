"""Variable-frame-rate video on a constant-rate clock, for `segments.plan_segments`.

The segment rules (windows, the shortest scene, the cap) are written for constant-rate
frames. A variable-rate video is planned on `FineClock`, a constant clock fine enough that
every frame starts on its own tick, and the windows planned there are mapped back to frames
(`FineClock.frames_of`). A window in which no frame starts (one frame held across it: a
paused screen recording) is dropped and its time left to the segment before, which then lasts
until the next frame; what a hold leaves of a window after it joins a neighbouring part of
its scene (`absorb_slivers`); and the parts left are numbered again (`renumbered`), so the
reasons never skip ("window 1/2", "window 2/2", not "window 1/7", "window 7/7").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vlmcli.video.metadata import VideoInfo


@dataclass(frozen=True)
class Window:
    """Frames [start, stop): part `part` (0-based) of the `parts` that scene `scene` (0-based) splits into."""

    start: int
    stop: int
    scene: int
    part: int
    parts: int

    def reason(self, scenes: int) -> str:
        """Its reason: "window 2/5", "whole video", "scene 3" or "scene 3 part 1/2" (`scenes`: how many)."""
        if scenes == 1:
            return f"window {self.part + 1}/{self.parts}" if self.parts > 1 else "whole video"
        return f"scene {self.scene + 1}" + (f" part {self.part + 1}/{self.parts}" if self.parts > 1 else "")


def absorb_slivers(
    pairs: Sequence[tuple[Window, float]], *, info: VideoInfo, min_seconds: float
) -> list[Window]:
    """Frame windows (each with the seconds it was planned to last) with every sliver joined to
    the next part of its scene, or the part before when it is the scene's last. A sliver is
    what a held frame left of a window: shorter than `min_seconds` and than half its planned
    length, because the frame shown before it was held into most of it."""
    out = [w for w, _ in pairs]
    planned = [p for _, p in pairs]
    i = 0
    while i < len(out):
        w = out[i]
        span = info.boundary_time(w.stop) - info.boundary_time(w.start)
        same = [j for j in (i + 1, i - 1) if 0 <= j < len(out) and out[j].scene == w.scene]
        if span < min_seconds and span < planned[i] / 2 and same:
            lo, hi = sorted((i, same[0]))
            out[lo : hi + 1] = [Window(out[lo].start, out[hi].stop, w.scene, 0, 0)]
            planned[lo : hi + 1] = [planned[lo] + planned[hi]]
            i = lo
        else:
            i += 1
    return out


def renumbered(windows: Sequence[Window]) -> list[Window]:
    """The windows with each scene's parts counted again (some were dropped: `FineClock.frames_of`),
    so a scene left with parts 1 and 7 of 7 reads "part 1/2", "part 2/2"."""
    total = Counter(w.scene for w in windows)
    seen: Counter[int] = Counter()
    out: list[Window] = []
    for w in windows:
        out.append(Window(w.start, w.stop, w.scene, seen[w.scene], total[w.scene]))
        seen[w.scene] += 1
    return out


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

    def frames_of(self, planned: Sequence[Window]) -> list[tuple[Window, float]]:
        """Tick windows as frame windows, each with the seconds it was planned to last: each starts
        at the first frame starting in it. A window in which no frame starts (one frame held
        across it) is dropped and left to the one before, which then lasts until the next frame:
        the windows still tile the video, and their parts are numbered again by the caller
        (`renumbered`)."""
        out: list[tuple[Window, float]] = []
        for w in planned:
            a = int(np.searchsorted(self.ticks, w.start, side="left"))
            b = int(np.searchsorted(self.ticks, w.stop, side="left"))
            if b > a:
                out.append((Window(a, b, w.scene, w.part, w.parts), (w.stop - w.start) / self.rate))
        return out
