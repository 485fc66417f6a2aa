"""A Matroska/WebM file cut short is called so (decord and ffmpeg read it as a shorter video:
a 60 s clip cut in half was answered about its first 28 s, exit 0)."""

from __future__ import annotations

import subprocess

import pytest

from vlmcli.errors import VideoError
from vlmcli.testing.media.video_clips import ffmpeg_exe
from vlmcli.video.decode import probe
from vlmcli.video.matroska import segment_end


def test_the_segment_end_comes_from_the_first_bytes():
    header = b"\x1a\x45\xdf\xa3" + b"\x84" + b"abcd"  # an EBML header element of 4 bytes
    assert segment_end(header + b"\x18\x53\x80\x67" + b"\x50\x00") == 9 + 4 + 2 + 0x1000  # a 2-byte size
    assert segment_end(header + b"\x18\x53\x80\x67" + b"\x01\xff\xff\xff\xff\xff\xff\xff") is None  # unknown: live
    assert segment_end(b"\x00\x00\x00\x18ftypisom") is None and segment_end(header) is None


@pytest.mark.parametrize("suffix, codec", [(".mkv", "libx264"), (".webm", "libvpx-vp9")])
def test_a_matroska_file_cut_short_is_refused(tmp_path, suffix, codec):
    whole = tmp_path / f"whole{suffix}"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=6",
                    "-c:v", codec, "-b:v", "300k", str(whole)], check=True)
    assert probe(whole).frame_count == 150
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(VideoError, match=r"^Could not open .*cut\.(mkv|webm): it was cut short: its Matroska segment runs to byte"):
        probe(cut)
    live = tmp_path / f"live{suffix}"  # streamed (unknown sizes, as a recorder writes): read as it is
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=2",
                    "-c:v", codec, "-live", "1", "-f", "matroska" if suffix == ".mkv" else "webm", "pipe:1"],
                   check=True, stdout=live.open("wb"))
    assert probe(live).frame_count > 0
