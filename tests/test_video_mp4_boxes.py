"""An MP4/MOV that ffmpeg cannot open says how it lost its index, from its top-level boxes.
Before, a phone video cut short by an interrupted copy (the index, written last, gone) and a
recording whose camera stopped before writing its index were both "not a video file ffmpeg
can read (Invalid data found when processing input)"."""

from __future__ import annotations

import io
import struct

import pytest

from vlmcli.errors import VideoError
from vlmcli.testing.media.bad_inputs import no_moov
from vlmcli.testing.media.video_clips import clip_set
from vlmcli.video.decode import probe
from vlmcli.video.mp4_boxes import Box, describe, top_level_boxes


def _box(kind: bytes, payload: bytes = b"", *, size: int | None = None) -> bytes:
    return struct.pack(">I4s", len(payload) + 8 if size is None else size, kind) + payload


def test_boxes_are_walked_with_64_bit_and_to_the_end_sizes():
    data = _box(b"ftyp", b"isom" * 2) + struct.pack(">I4sQ", 1, b"mdat", 16 + 4) + b"abcd" + _box(b"moov", size=0) + b"xy"
    boxes = top_level_boxes(io.BytesIO(data), len(data))
    assert [(b.kind, b.start, b.end) for b in boxes] == [("ftyp", 0, 16), ("mdat", 16, 36), ("moov", 36, 46)]
    assert top_level_boxes(io.BytesIO(b"GIF89a" + b"\0" * 20), 26) == []  # not an MP4/MOV
    garbage = _box(b"ftyp", b"isom") + b"\x00\x00\x00\t\x00\x00\x00\n"  # a type that is no text (found by fuzzing)
    assert [b.kind for b in top_level_boxes(io.BytesIO(garbage), len(garbage))] == ["ftyp"]


@pytest.mark.parametrize(
    ("boxes", "size", "expected"),
    [
        ([Box("ftyp", 0, 24), Box("mdat", 24, 5000)], 3000, "it was cut short: its mdat box runs to byte 5,000 but the file ends at 3,000"),
        ([Box("ftyp", 0, 24), Box("mdat", 24, 3000)], 3000, "it has frame data but no index (moov box): the recording was never finished"),
        ([Box("ftyp", 0, 24), Box("moov", 24, 9000)], 3000, "it was cut short inside its index"),
        ([Box("styp", 0, 24), Box("moof", 24, 100), Box("mdat", 100, 3000)], 3000, "it is a fragment of a stream (moof boxes)"),
        ([Box("ftyp", 0, 24), Box("free", 24, 56)], 56, "it holds neither an index (moov box) nor frame data"),
        ([Box("ftyp", 0, 24), Box("moov", 24, 900), Box("mdat", 900, 3000)], 3000, None),  # whole
        ([], 3000, None),
        ([Box("ftyp", 0, 24)], 40, None),  # the walk stopped at bytes that are no box: nothing is known
    ],
)
def test_what_the_boxes_say(boxes, size, expected):
    said = describe(boxes, size)
    assert said == expected if expected is None else said.startswith(expected)


def test_a_phone_video_cut_short_and_one_never_finished(tmp_path):
    whole = clip_set().cuts_a.path.read_bytes()  # ffmpeg writes the index last, as phones do
    cut = tmp_path / "copy_interrupted.mp4"
    cut.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(VideoError, match=r"^Could not open .*copy_interrupted\.mp4: it was cut short: its mdat box runs to byte [\d,]+ but the file ends at [\d,]+, before the index"):
        probe(cut)
    unfinished = tmp_path / "camera_lost_power.mp4"
    unfinished.write_bytes(no_moov(whole))
    with pytest.raises(VideoError, match=r"camera_lost_power\.mp4: it has frame data but no index \(moov box\): the recording was never finished"):
        probe(unfinished)


def test_a_streams_pieces_say_how_to_join_them(monkeypatch, tmp_path):
    """What an HLS download leaves (ffmpeg's `-f hls -hls_segment_type fmp4`): a playlist, an
    init segment and .m4s fragments. Each was "not an image" or "contains no video frames"."""
    import subprocess

    from typer.testing import CliRunner

    from vlmcli.cli import app
    from vlmcli.testing.fakes import install_fake_engine
    from vlmcli.testing.media.video_clips import ffmpeg_exe

    install_fake_engine(monkeypatch)  # the input's error, whatever the network (no hub lookup of the model)
    source = ["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=4"]
    hls = ["-c:v", "libx264", "-g", "10", "-f", "hls", "-hls_time", "2", "-hls_segment_type", "fmp4", "-hls_playlist_type", "vod"]
    subprocess.run([ffmpeg_exe(), "-v", "error", *source, *hls, str(tmp_path / "stream.m3u8")], check=True, cwd=tmp_path)
    messages = {}
    for name in ("init.mp4", "stream0.m4s"):
        result = CliRunner().invoke(app, ["describe", str(tmp_path / name)])
        assert result.exit_code == 3, result.output
        messages[name] = result.stderr
    assert probe(tmp_path / "stream.m3u8").frame_count == 40  # the playlist itself is read (test_video_playlists.py)
    assert "init.mp4 is the init segment of a video cut into fragments (HLS, DASH)" in messages["init.mp4"]
    assert "stream0.m4s: it is a fragment of a stream (moof boxes) without the init segment" in messages["stream0.m4s"]
    joined = tmp_path / "joined.mp4"
    joined.write_bytes((tmp_path / "init.mp4").read_bytes() + (tmp_path / "stream0.m4s").read_bytes())
    assert probe(joined).frame_count == 20  # as the message says: the pieces joined play


def test_the_summary_names_a_broken_video_once(monkeypatch, tmp_path):
    """caption-dir's error lines read "/x/cut.mp4: Could not open /x/cut.mp4: ..." and
    "/x/e.mp4: Video file is empty (0 bytes): /x/e.mp4." (the name, then a message naming it)."""
    from typer.testing import CliRunner

    from vlmcli.cli import app
    from vlmcli.testing.fakes import install_fake_engine, isolate_env

    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)
    clips = tmp_path / "clips"
    clips.mkdir()
    whole = clip_set().cuts_a.path.read_bytes()
    (clips / "cut.mp4").write_bytes(whole[: len(whole) // 3])
    (clips / "empty.mp4").write_bytes(b"")
    result = CliRunner().invoke(app, ["caption-dir", str(clips), "-o", str(tmp_path / "out"), "--videos"])
    errors = [line for line in result.stderr.splitlines() if line.startswith("  error: ")]
    assert len(errors) == 2 and all(line.count(str(clips)) == 1 for line in errors), errors
    assert f"  error: {clips / 'empty.mp4'} is empty (0 bytes)." in errors
