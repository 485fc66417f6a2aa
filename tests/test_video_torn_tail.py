"""A constant-rate MPEG-TS cut mid-packet (`head -c`, a recording stopped part-way) stays
constant-rate: the reference picture stored before the B-frames that were cut off is shown
after a hole, and is left out, with a note that the file ends cut short.

Before: the hole made a 25 fps TS variable-rate at 24.58 fps."""

from __future__ import annotations

import functools
import subprocess
import tempfile
from pathlib import Path

import av
import numpy as np
import pytest

from vlmcli.testing.media.video_clips import ffmpeg_exe, read_index, render_indexed
from vlmcli.video.backends import open_video
from vlmcli.video.decode import probe
from vlmcli.video.packet_index import PacketInfo
from vlmcli.video.reading_notes import torn_note
from vlmcli.video.torn_tail import drop_torn_tail


@functools.cache
def clips() -> tuple[Path, Path]:
    """(a whole 25 fps TS with B-frames, the same cut inside the packet after a reference picture)."""
    folder = Path(tempfile.mkdtemp(prefix="vlmcli-torn-"))
    whole = folder / "whole.ts"
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", "64x48", "-r", "25", "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-g", "30",
               "-bf", "3", "-pix_fmt", "yuv420p", "-threads", "1", str(whole)]  # fmt: skip
    subprocess.run(command, input=render_indexed(60).tobytes(), check=True, capture_output=True)
    with av.open(str(whole)) as container:
        packets = [(p.pts, p.pos) for p in container.demux(container.streams.video[0]) if p.size]
    # mid-file, a reference picture stored before pictures shown earlier: cut inside the next packet
    k = next(k for k in range(len(packets) // 2, len(packets) - 1) if packets[k][0] > packets[k + 1][0])
    cut = folder / "cut.ts"
    cut.write_bytes(whole.read_bytes()[: packets[k + 1][1] + 100])
    return whole, cut


def test_a_cut_constant_rate_ts_stays_constant_rate():
    whole, cut = clips()
    info = probe(cut)
    assert not info.variable_rate and info.fps == pytest.approx(25.0)
    assert info.duration_s == pytest.approx(info.frame_count / 25.0)
    reader = open_video(str(cut), None)
    assert [read_index(f) for f in reader.read(np.arange(reader.frame_count))] == list(range(reader.frame_count))
    assert "ends cut short" in torn_note(str(cut), shown_as="rec.ts") and torn_note(str(whole)) is None
    assert probe(whole).frame_count == 60 and not probe(whole).variable_rate


def test_only_a_short_hole_at_the_very_end_is_torn():
    step = 3600
    # decode order: I0 P4 B2 B1 B3 P8 B6 B5 B7 P12 (cut: B10 B9 B11 never came)
    order = [0, 4, 2, 1, 3, 8, 6, 5, 7, 12]
    packets = [PacketInfo(i * step, None, i == 0, step) for i in order]
    kept, torn = drop_torn_tail(packets, time_base=1 / 90000, fps=25.0)
    assert torn == 1 and [p.pts // step for p in kept] == order[:-1]
    held = [PacketInfo(i * step, None, i == 0, step) for i in [0, 4, 2, 1, 3, 8, 6, 5, 7, 40]]  # a long last hold
    assert drop_torn_tail(held, time_base=1 / 90000, fps=25.0)[1] == 0
    in_order = [PacketInfo(i * step, None, i == 0, step) for i in [*range(9), 12]]  # no reordering: nothing torn
    assert drop_torn_tail(in_order, time_base=1 / 90000, fps=25.0)[1] == 0
