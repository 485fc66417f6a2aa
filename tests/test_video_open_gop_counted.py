"""Streams whose frames are counted (AVI stores no presentation times) and whose GOPs are open:
an ffmpeg `mpeg4 -bf 2` AVI (an "Xvid" AVI) and x264's `open-gop` in AVI. Decoding from a
keyframe drops its leading pictures, so every frame read after a seek came back two or three
frames late, silently, and the last frames were "not decodable". Now each frame read alone
equals the frame a full decode gives at that index."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from vlmcli.testing.media.video_clips import ffmpeg_exe
from vlmcli.video.decode_pyav import PyAVReader
from vlmcli.video.packet_index import Numbering, PacketInfo, build_index

SOURCE = ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=3"]  # every frame differs
CLIPS = {
    "mpeg4-bframes.avi": ["-c:v", "mpeg4", "-vtag", "XVID", "-bf", "2", "-q:v", "3"],
    "x264-open-gop.avi": ["-c:v", "libx264", "-bf", "3", "-x264opts", "open-gop=1:keyint=20"],
    "x264-closed.avi": ["-c:v", "libx264", "-bf", "3"],
    "mpeg2-open.m2v": ["-c:v", "mpeg2video", "-bf", "2", "-q:v", "3"],  # raw: counted from the start
}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("open-gop")
    for name, args in CLIPS.items():
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *SOURCE, *args, str(folder / name)], check=True)
    return folder


def _every_frame(path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])  # (F, H, W, 3)


@pytest.mark.parametrize("name", list(CLIPS))
def test_each_frame_read_alone_is_the_frame_at_that_index(clips, name):
    path = str(clips / name)
    truth = _every_frame(path)
    assert len({frame.tobytes() for frame in truth}) == len(truth)  # frames tell apart
    reader = PyAVReader(path)
    assert reader.frame_count == len(truth) == 75 and reader._index.numbering is Numbering.COUNT
    for index in range(len(truth)):
        got = PyAVReader(path).read(np.array([index]))[0]  # a fresh reader: a seek each time
        assert (got == truth[index]).all(), index
    sparse = [3, 17, 18, 19, 41, 42, 60, 73, 74]
    assert all((g == truth[i]).all() for g, i in zip(reader.read(np.array(sparse)), sparse))


def test_a_counted_index_knows_which_packet_each_picture_came_from():
    packets = [PacketInfo(pts=d + 1, dts=d, keyframe=d % 4 == 0, duration=1) for d in range(8)]
    index = build_index(packets, time_base=0.04, fps=25.0, container="avi")
    assert index.numbering is Numbering.COUNT
    assert index.packet_of_picture(1) == 0 and index.packet_of_picture(8) == 7 and index.packet_of_picture(99) is None
    no_pts = [p._replace(pts=None) for p in packets]
    assert build_index(no_pts, time_base=0.04, fps=25.0, container="avi").picture_stamps is None
