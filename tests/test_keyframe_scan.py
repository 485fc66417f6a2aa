"""The scan stays bounded on long videos and still puts cuts on their exact frames.

Pure parts (keyframe snapping, the cut search) run on in-memory arrays with a counting
`read`; the bound and the cut F1 are then checked on a real 20-minute synthetic clip through
decord. Cut-heavy videos (several cuts per scan step) are in test_scene_detection_long.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from vlmcli.testing.media.video_clips import cut_f1, render_motion, render_scenes, write_video
from vlmcli.video.change import Features, feature_deltas
from vlmcli.video.decode import DecordReader, probe
from vlmcli.video.metadata import VideoInfo
from vlmcli.video.refine import refine_changes
from vlmcli.video.sampling import SamplingOptions
from vlmcli.video.sampling.cuts import scan_cuts
from vlmcli.video.sampling.keyframe import KeyframeSampler
from vlmcli.video.scan import (
    REFINE_FRAMES_PER_STEP,
    REFINE_MAX_FRAMES,
    SCAN_MAX_FRAMES,
    Scan,
    scan_from_frames,
    scan_indices,
    scan_video,
)


class ArrayVideo:
    """Frames in memory behind the `read` callable of `refine_changes`, counting reads."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = frames  # (F, h, w, 3) uint8
        self.read_frames = 0
        self.calls: list[list[int]] = []

    def read(self, indices: np.ndarray) -> np.ndarray:
        assert np.all(np.diff(indices) > 0), "reads must be sorted and unique"
        self.read_frames += len(indices)
        self.calls.append(indices.tolist())
        return self.frames[indices]

    def refine(self, idx: np.ndarray, steps, *, budget: int):
        return refine_changes(indices=idx, features=Features.of(self.frames[idx]), positions=steps,
                              read=self.read, budget=budget, frame_count=len(self.frames))


def scanned(video: ArrayVideo, indices: np.ndarray) -> Scan:
    return scan_from_frames(indices=indices, timestamps=indices / 25.0, pixels=video.frames[indices])


def test_refinement_finds_the_exact_frame_of_each_cut():
    frames, cuts = render_scenes([137, 90, 173], width=48, height=32, seed=5)
    video = ArrayVideo(frames)
    idx = np.arange(0, len(frames), 20)  # coarse: one frame in 20
    steps = [int(np.searchsorted(idx, c)) for c in cuts]  # the steps holding the cuts
    found = video.refine(idx, steps, budget=100)
    assert found.cuts.tolist() == list(cuts)
    assert found.unsettled.size == 0 and found.error is None
    # 20 -> 10 -> 5 -> 2 or 3 frames wide by halving, then the bracket and 2 frames either side
    assert found.frames_read == video.read_frames <= 3 * (3 + 6)
    assert len(video.calls) <= 4  # every level is one batched read for all cuts
    assert not set(found.frames.tolist()) & set(idx.tolist())  # scanned frames are never reread


def test_several_cuts_in_one_coarse_step_are_all_found():
    frames, cuts = render_scenes([37, 16, 25, 30, 40], width=48, height=32, seed=8)
    video = ArrayVideo(frames)
    idx = np.array([0, 37 + 16 + 25 + 30 + 20, len(frames) - 1])  # four cuts in the first step
    found = video.refine(idx, [1], budget=200)
    assert found.cuts.tolist() == list(cuts)


def test_refinement_respects_its_budget_and_priority():
    frames, cuts = render_scenes([137, 90, 173], width=48, height=32, seed=5)
    idx = np.arange(0, len(frames), 20)
    steps = [int(np.searchsorted(idx, c)) for c in cuts]
    none = ArrayVideo(frames)
    untouched = none.refine(idx, steps, budget=0)
    assert none.read_frames == 0 and untouched.cuts.size == 0
    assert untouched.unsettled.tolist() == sorted(steps)
    some = ArrayVideo(frames)
    partial = some.refine(idx, steps[::-1], budget=12)  # both halve; one can close
    assert some.read_frames == partial.frames_read <= 12
    assert partial.cuts.tolist() == [cuts[-1]]  # first in priority: finished
    assert partial.unsettled.tolist() == [steps[0]]  # the other was cut short


def test_motion_that_looks_like_a_cut_at_a_coarse_step_is_dropped():
    # a steady pan: scanned 30 frames apart it changes a lot, adjacent frames barely
    frames = render_motion(300, width=64, height=48, seed=3)
    video = ArrayVideo(frames)
    idx = np.arange(0, 300, 30)
    scan = scanned(video, idx)
    pixel, hist = scan.pixel_delta, scan.hist_delta.copy()
    hist[5] = 0.4  # pretend the histogram jumped at step 5 (a noisy coarse signal)
    flagged = Scan(indices=idx, timestamps=scan.timestamps, pixel_delta=pixel, hist_delta=hist)
    assert scan_cuts(flagged)[0].tolist() == [5]  # unrefined: taken on the coarse signal
    found = video.refine(idx, [5], budget=50)
    assert found.cuts.size == 0 and found.unsettled.size == 0
    ruled_out = Scan(indices=idx, timestamps=scan.timestamps, pixel_delta=pixel, hist_delta=hist,
                     cut_sharpness=np.where(np.arange(10) == 5, 0.0, np.nan))
    assert scan_cuts(ruled_out)[0].size == 0


def test_chroma_noise_on_grey_is_no_change_but_colour_is():
    # a grey picture with the faint chroma an encoder leaves (+-3 levels), then the same
    # picture with none (what x264 decodes at a keyframe): RGB moves < 0.01, but the hue
    # of every pixel jumps, so HSV deltas were 0.1-0.3, as large as a cut's floor
    rng = np.random.default_rng(0)
    grey = np.repeat(rng.integers(20, 235, size=(1, 36, 64, 1)), 3, axis=3)  # (1, 36, 64, 3)
    noisy = np.clip(grey + rng.integers(-3, 4, size=grey.shape), 0, 255).astype(np.uint8)
    grey = grey.astype(np.uint8)
    pixel, hist = feature_deltas(Features.of(noisy), Features.of(grey))
    assert np.abs(noisy.astype(int) - grey).mean() / 255 < 0.01
    assert pixel[0] < 0.01 and hist[0] < 0.02, (pixel, hist)
    # the same grey layout in two different colours: hue alone changed, and it counts
    red, green = grey * np.array([1.0, 0.3, 0.3]), grey * np.array([0.3, 1.0, 0.3])
    pixel, hist = feature_deltas(Features.of(red.astype(np.uint8)), Features.of(green.astype(np.uint8)))
    assert pixel[0] > 0.15 and hist[0] > 0.25, (pixel, hist)


def test_scan_targets_snap_to_nearby_keyframes():
    info = VideoInfo(path="x.mp4", fps=10.0, frame_count=1001, duration_s=100.0, width=64,
                     height=48)
    plain = scan_indices(info, fps=0.1, max_frames=600)  # 11 targets, 100 frames apart
    assert plain.tolist() == list(range(0, 1001, 100))
    keys = np.array([0, 96, 180, 330, 999])
    snapped = scan_indices(info, fps=0.1, max_frames=600, keys=keys)
    # 100 -> 96 and 200 -> 180 (within half a step), 300 -> 330; 1000 (last) never moves
    assert snapped.tolist() == [0, 96, 180, 330, 400, 500, 600, 700, 800, 900, 1000]
    assert scan_indices(info, fps=50.0, max_frames=600).size == 600  # the cap


def test_bad_scan_cut_index_is_refused():
    idx = np.array([0, 10, 20])
    with pytest.raises(ValueError, match="cut_index"):
        Scan(indices=idx, timestamps=idx / 10.0, pixel_delta=np.zeros(3), hist_delta=np.zeros(3),
             cut_index=np.array([0, 25, 20]))


# --- a long real clip -----------------------------------------------------------------


class CountingOpener:
    def __init__(self) -> None:
        self.readers: list[DecordReader] = []

    def __call__(self, path: str, size: tuple[int, int] | None) -> DecordReader:
        self.readers.append(DecordReader(path, size))
        return self.readers[-1]

    @property
    def decoded(self) -> int:
        return sum(r.frames_decoded for r in self.readers)


LONG_SCAN = 150  # coarse frames for the long clip: one every 8 s (the default cap is 600)
LONG_REFINE = 400  # refinement budget for it (the default is 24 per scan step)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """20 minutes at 5 fps (6,000 frames, 64x48): 30 scenes of 24-56 s, long-GOP H.264."""
    rng = np.random.default_rng(11)
    lengths = rng.integers(120, 280, size=30).tolist()
    frames, cuts = render_scenes(lengths, width=64, height=48, seed=12, speed=1.5, noise=4.0)
    path = write_video(tmp_path_factory.mktemp("long") / "long.mp4", frames, fps=5.0, gop=250)
    return path, len(frames), list(cuts)


def test_scan_of_a_long_video_is_bounded_and_finds_exact_cuts(long_clip):
    path, count, cuts = long_clip
    info = probe(path)
    assert info.frame_count == count
    opener = CountingOpener()
    scan = scan_video(path, info=info, opener=opener, max_frames=LONG_SCAN,
                      refine_frames=LONG_REFINE)
    assert len(scan_indices(info, max_frames=LONG_SCAN)) == LONG_SCAN  # not 4 per second: the cap
    assert opener.decoded == scan.frames_read <= LONG_SCAN + LONG_REFINE
    assert scan.degraded is None
    assert opener.decoded < count / 10  # 7%: the 30 cuts cost ~9 frames each
    plan = KeyframeSampler().select(info, scan, options=SamplingOptions(frames=64, max_frames=64))
    found = [c.index for c in plan.cuts]
    precision, recall, f1 = cut_f1(found, cuts, tolerance=1)  # exact to a frame: bisection
    assert f1 >= 0.95, (precision, recall, found, cuts)
    bounds = [0, *cuts, count]
    for start, stop in zip(bounds, bounds[1:]):  # every true scene still gets a frame
        assert any(start <= i < stop for i in plan.indices), (start, stop)


def test_default_scan_bound_holds_on_a_short_clip(tmp_path):
    frames, cuts = render_scenes([40, 40, 40], width=64, height=48, seed=3)
    path = write_video(tmp_path / "short.mp4", frames, fps=10.0)
    opener = CountingOpener()
    scan = scan_video(path, info=probe(path), opener=opener)
    coarse = scan_indices(info := probe(path), keys=opener.readers[0].key_indices())
    assert len(coarse) == 49  # 12 s at 4 scans per second, first and last frames included
    assert opener.decoded == scan.frames_read == len(scan)  # every frame read is in the scan
    assert scan.frames_read <= 49 + 2 * 9  # two cuts, <= 9 frames each
    assert sorted(scan_cuts(scan)[1].tolist()) == list(cuts)  # exact frames
    assert scan.degraded is None and info.frame_count == 120
    assert REFINE_MAX_FRAMES == REFINE_FRAMES_PER_STEP * (SCAN_MAX_FRAMES - 1)
    assert SCAN_MAX_FRAMES + REFINE_MAX_FRAMES == 14_976  # the documented bound for any length
