"""MPEG-TS recordings joined with `cat` read as one timeline, as ffmpeg's CLI reads them.

Before: `cat b.ts a.ts` (b's clock 100 s ahead) was a 26-hour video (libavformat took the jump
back for a 33-bit wrap), its frames sampled in the first seconds and at ~95344 s; `cat a.ts
b.ts` had a 95 s empty gap; two parts with the same timestamps lost the second part's
leading frames and were sought by ambiguous timestamps. Each frame shows its own number
(`render_indexed`), so every read is checked by content."""

from __future__ import annotations

import functools
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from vlmcli.testing.media.video_clips import ffmpeg_exe, read_index, render_indexed
from vlmcli.video.backends import open_video
from vlmcli.video.decode import probe
from vlmcli.video.packet_index import PacketInfo
from vlmcli.video.reading_notes import timeline_note
from vlmcli.video.timeline_joins import join_timeline

PART = 40  # frames per part, 25 fps: 1.6 s


def _ts(path: Path, frames: np.ndarray, *, offset: float | None = None) -> bytes:
    t, h, w, _ = frames.shape
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{w}x{h}", "-r", "25", "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-g", "10",
               "-bf", "2", "-pix_fmt", "yuv420p", "-threads", "1"]  # fmt: skip
    if offset is not None:
        command += ["-output_ts_offset", str(offset)]
    subprocess.run([*command, str(path)], input=frames.tobytes(), check=True, capture_output=True)
    return path.read_bytes()


@functools.cache
def clips() -> dict[str, Path]:
    """Joined TS files (frames 0-39 in part a, 40-79 in part b) and one crossing a 33-bit wrap."""
    folder = Path(tempfile.mkdtemp(prefix="vlmcli-tsjoin-"))
    frames = render_indexed(2 * PART)
    a = _ts(folder / "a.ts", frames[:PART])
    b_ahead = _ts(folder / "b100.ts", frames[PART:], offset=100)  # a clock 100 s ahead
    b_same = _ts(folder / "b.ts", frames[PART:])  # the same timestamps as a
    out = {"back": b_ahead + a, "forward": a + b_ahead, "same": a + b_same}
    paths = {}
    for name, data in out.items():
        paths[name] = folder / f"{name}.ts"
        paths[name].write_bytes(data)
    paths["wrap"] = folder / "wrap.ts"
    _ts(paths["wrap"], frames, offset=2**33 / 90000 - 1.6)  # the clock wraps half-way
    paths["a"] = folder / "a.ts"
    return paths


def _shown(name: str) -> list[int]:
    """The frame numbers in the order the joined file shows them."""
    first, second = list(range(PART)), list(range(PART, 2 * PART))
    return second + first if name == "back" else first + second


@pytest.mark.parametrize("name", ["back", "forward", "same", "wrap"])
def test_one_timeline_of_steady_frames(name):
    info = probe(clips()[name])
    assert info.frame_count == 2 * PART
    assert info.duration_s == pytest.approx(2 * PART / 25) and info.fps == pytest.approx(25.0)
    assert not info.variable_rate  # no gap, no jump: 0.04 s steps throughout


@pytest.mark.parametrize("name", ["back", "forward", "same", "wrap"])
def test_every_read_is_the_frame_at_its_time(name):
    reader = open_video(str(clips()[name]), None)
    shown = _shown(name)
    times = reader.start_times(np.arange(2 * PART))
    assert np.allclose(np.diff(times), 0.04)
    for wanted in ([0, 79, 40, 39, 41], [55, 12, 70, 3], np.arange(2 * PART)):  # back and forth, then all
        got = [read_index(frame) for frame in reader.read(np.asarray(wanted))]
        assert got == [shown[i] for i in wanted]


def test_a_note_says_the_timestamps_jump_only_when_they_do():
    assert "its timestamps jump once" in timeline_note(str(clips()["back"]), shown_as="rec.ts")
    assert timeline_note(str(clips()["back"]), shown_as="rec.ts").startswith("rec.ts: ")
    assert timeline_note(str(clips()["same"])) is not None
    assert timeline_note(str(clips()["wrap"])) is None and timeline_note(str(clips()["a"])) is None


def test_jumps_are_joined_by_ffmpegs_rule():
    """More than 10 s either way, or back more than 0.1 s, is a new part one frame after the
    last packet; a forward gap of a few seconds (a paused recorder) is kept."""
    step = 3600  # one frame at 25 fps in 90 kHz units
    dts = [0, step, 2 * step, 2 * step + 5 * 90000, 2 * step + 16 * 90000, step]
    packets = [PacketInfo(d, d, True, step) for d in dts]
    joined, joins = join_timeline(packets, time_base=1 / 90000, fps=25.0)
    assert [p.dts for p in joined] == [0, step, 2 * step, 2 * step + 450000, 3 * step + 450000, 4 * step + 450000]
    assert joins.starts == (4, 5) and joins.offset_at(3) == 0 and joins.offset_at(5) == joins.offsets[1]
    assert join_timeline(packets[:4], time_base=1 / 90000, fps=25.0)[1] is None
