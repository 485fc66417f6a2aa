"""Dynamic sampling ignores encoder noise: an x264-encoded still picture changes by a hair at
each keyframe and for a few frames after a cut; that must not attract frames. With nothing
above the noise the plan is exactly uniform; real motion still draws the frames."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from vlmcli.video.decode import probe
from vlmcli.video.metadata import VideoInfo
from vlmcli.video.sampling import SamplingOptions
from vlmcli.video.sampling.dynamic import DynamicSampler
from vlmcli.video.sampling.uniform import UniformSampler
from vlmcli.video.scan import Scan, scan_video
from vlmcli.testing.media.video_clips import ffmpeg_exe


def _info(frame_count: int, fps: float = 25.0) -> VideoInfo:
    return VideoInfo(path="synthetic.mp4", fps=fps, frame_count=frame_count,
                     duration_s=frame_count / fps, width=64, height=48)


def _scan(indices, pixel) -> Scan:
    indices = np.asarray(indices, dtype=np.int64)
    pixel = np.asarray(pixel, dtype=np.float64)
    return Scan(indices=indices, timestamps=indices / 25.0, pixel_delta=pixel, hist_delta=pixel.copy())


def _bars(width: int, height: int) -> np.ndarray:
    """(H, W, 3) uint8 colour bars with a grey ramp below: a still test card."""
    colours = np.array([[192, 192, 192], [192, 192, 0], [0, 192, 192], [0, 192, 0],
                        [192, 0, 192], [192, 0, 0], [0, 0, 192]], dtype=np.uint8)
    img = np.zeros((height, width, 3), dtype=np.uint8)
    cols = (np.arange(width) * len(colours)) // width
    img[: 2 * height // 3] = colours[cols][None]
    img[2 * height // 3 :] = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None]
    return img


def _encode(path: Path, frames: np.ndarray, *, fps: float = 25.0, gop: int = 50) -> Path:
    """x264 with its default preset and quality (what a user's ffmpeg writes), short GOP."""
    t, h, w, _ = frames.shape
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
         "-s", f"{w}x{h}", "-r", str(fps), "-i", "-", "-c:v", "libx264", "-pix_fmt", "yuv420p",
         "-g", str(gop), "-threads", "1", str(path)],
        input=np.ascontiguousarray(frames).tobytes(), check=True,
    )
    return path


# --- pure ------------------------------------------------------------------------------


def test_one_keyframe_of_noise_leaves_the_plan_uniform():
    idx = np.arange(0, 1800, 8)  # a minute at 30 fps, scanned ~4 times a second
    change = np.zeros(len(idx))
    change[31] = 0.00134  # the walk's static60.mp4: x264's keyframe at frame 250, nothing else
    opts = SamplingOptions(frames=8)
    info = _info(1800, fps=30.0)
    plan = DynamicSampler().select(info, _scan(idx, change), options=opts)
    assert plan == UniformSampler().select(info, None, options=opts)


def test_settling_noise_after_a_cut_does_not_pile_frames_at_the_segment_start():
    # a segment starting at a cut into a still scene: the first scanned frame's delta is zeroed,
    # the adjacent frames after it settle by 0.0002-0.002, then nothing
    idx = np.array([0, 1, 2, 3, 4, 5, 12, 24, 37, 49, 61, 74, 86, 99])
    change = np.array([0.0, 0.00112, 0.00088, 0.00211, 0.00135, 0.00026, 0.00105, 0, 0, 0, 0, 0, 0, 0])
    opts = SamplingOptions(frames=8)
    plan = DynamicSampler().select(_info(100), _scan(idx, change), options=opts)
    assert plan.indices == UniformSampler().select(_info(100), None, options=opts).indices


def test_change_barely_above_the_noise_moves_few_frames():
    idx = np.arange(0, 300, 6)
    change = np.zeros(len(idx))
    change[20] = 0.015  # a low-quality encoder's keyframe: just above the noise level
    plan = DynamicSampler().select(_info(300), _scan(idx, change), options=SamplingOptions(frames=8))
    near = sum(abs(i - idx[20]) <= 6 for i in plan.indices)
    assert near <= 2, plan.indices


# --- on encoded clips --------------------------------------------------------------------


def test_an_x264_still_clip_gets_the_uniform_plan(tmp_path):
    frames = np.repeat(_bars(128, 96)[None], 150, axis=0)  # 6 s of one still picture
    path = _encode(tmp_path / "still.mp4", frames)
    info = probe(path)
    scan = scan_video(path, info=info)
    opts = SamplingOptions(frames=8)
    plan = DynamicSampler().select(info, scan, options=opts)
    assert plan == UniformSampler().select(info, None, options=opts)
    assert {f.reason.split()[0] for f in plan.frames} == {"uniform"}


def test_frames_still_go_where_something_moves(tmp_path):
    still = _bars(128, 96)
    frames = np.repeat(still[None], 150, axis=0).copy()
    for f in range(60, 90):  # a white box crosses the picture between 2.4 s and 3.6 s
        x = (f - 60) * 3
        frames[f, 30:54, x : x + 24] = 255
    path = _encode(tmp_path / "moving.mp4", frames)
    info = probe(path)
    plan = DynamicSampler().select(info, scan_video(path, info=info), options=SamplingOptions(frames=8))
    inside = [f for f in plan.frames if 58 <= f.index <= 92]
    assert len(inside) >= 5, plan.indices
    assert {f.reason for f in inside} == {"change"}
