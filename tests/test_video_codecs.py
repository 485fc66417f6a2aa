"""Every video ffmpeg decodes is read, frame-exactly and sparsely, by the right decoder.

Clips of H.264, HEVC, VP8, VP9, AV1, MPEG-1/2 and MJPEG in mp4/mkv/webm/avi/mov/mpg/ts, with
and without audio, a streamed WebM (no index) and variable-frame-rate clips
(`vlmcli/testing/media/codec_clips.py`): each frame shows its own number, so every read is checked by
content, and seeking is checked against a sequential decode of the same file.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vlmcli.testing.media.codec_clips import CASES, FRAMES, CodecCase, audio_only, build, encoders, frame_times, missing_encoder
from vlmcli.testing.fakes import isolate_env
from vlmcli.testing.media.video_clips import clip_set, read_index
from vlmcli.cli import app
from vlmcli.errors import VideoError
from vlmcli.video import backends
from vlmcli.video.decode import DecordReader, PyAVReader, probe, read_frames
from vlmcli.video.stream_facts import StreamFacts
from vlmcli.video.packet_index import Numbering, PacketInfo, build_index
from vlmcli.video.sample import sample_video

WANTED = [0, 1, 9, 10, 11, 23, 37, 50, 58, 59]  # keyframes, their neighbours, mid-GOP frames


@pytest.fixture(scope="module")
def folder():
    path = Path(tempfile.mkdtemp(prefix="vlmcli-codecs-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def clips(folder):
    return {case.name: build(case, folder) for case in CASES}


def clip(clips: dict[str, Path | None], case: CodecCase) -> Path:
    path = clips[case.name]
    if path is None:
        pytest.skip(f"the local ffmpeg cannot encode {case.name}: no {missing_encoder(case)} encoder")
    return path


class Spy:
    """The default opener, keeping every reader it opened."""

    def __init__(self) -> None:
        self.readers: list = []

    def __call__(self, path: str, size: tuple[int, int] | None):
        reader = backends.open_video(path, size)
        self.readers.append(reader)
        return reader


# --- every codec and container ----------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=CodecCase.id)
def test_probe_and_sparse_read_return_the_right_frames(clips, case):
    path = clip(clips, case)
    info = probe(path)
    assert info.decoder == case.decoder
    assert (info.frame_count, info.width, info.height) == (FRAMES, 64, 48)
    times = frame_times(case)
    assert times[-1] < info.duration_s <= times[-1] + (0.1 if case.vfr else 0.04) + 0.005  # + the last frame
    assert info.fps == pytest.approx(FRAMES / info.duration_s if case.vfr else 25.0, rel=0.05)
    assert info.variable_rate == case.vfr  # no constant-rate container or codec is taken for variable
    if case.vfr:
        np.testing.assert_allclose(info.frame_times, times, atol=1e-3)
        assert [info.time_of(i) for i in WANTED] == pytest.approx([times[i] for i in WANTED], abs=1e-3)
    frames = read_frames(path, WANTED[::-1], info=info)  # any order in, increasing order out
    assert frames.indices == tuple(WANTED)
    assert [read_index(f) for f in frames.pixels] == WANTED
    np.testing.assert_allclose(frames.timestamps, [times[i] for i in WANTED], atol=1e-3)


@pytest.mark.parametrize("case", CASES, ids=CodecCase.id)
def test_seeking_gives_the_same_pixels_as_decoding_in_order(clips, case):
    """Frame accuracy: frame i read alone (a seek) equals frame i of a sequential decode."""
    path = clip(clips, case)
    info = probe(path)
    every = read_frames(path, range(FRAMES), info=info)
    assert [read_index(f) for f in every.pixels] == list(range(FRAMES))
    for i in (59, 3, 31, 10, 47):  # backwards and forwards, keyframes and B-frames
        alone = read_frames(path, [i], info=info)
        np.testing.assert_array_equal(alone.pixels[0], every.pixels[i], err_msg=f"frame {i}")


@pytest.mark.parametrize("case", CASES, ids=CodecCase.id)
def test_resize_at_decode_time(clips, case):
    path = clip(clips, case)
    frames = read_frames(path, [5, 44], max_side=32)
    assert frames.pixels.shape == (2, 24, 32, 3)
    assert [read_index(f) for f in frames.pixels] == [5, 44]


# --- PyAV keeps decoding sparse -----------------------------------------------------------


@pytest.mark.parametrize("name", ["av1-mkv", "hevc-mp4", "h264-ts", "h264-avi"])
def test_pyav_decodes_from_the_nearest_keyframe_only(clips, name):
    case = next(c for c in CASES if c.name == name)
    path = str(clip(clips, case))
    reader = PyAVReader(path)
    assert list(reader.key_indices()[:2]) == [0, 10]
    pixels = reader.read(np.array([57]))
    assert read_index(pixels[0]) == 57
    gop = 10 if name != "h264-avi" else 20  # AVI's frames are counted: from the keyframe before (open GOPs)
    assert reader.pictures_decoded <= gop + 3  # from keyframe 50, plus the B-frame reorder delay
    close = reader.read(np.array([58, 59]))  # just ahead: decoded on, no new seek
    assert [read_index(p) for p in close] == [58, 59] and reader.pictures_decoded <= gop + 5
    assert reader.frames_decoded == 3


def test_keyframe_sampling_scans_an_av1_clip(clips):
    path = clip(clips, next(c for c in CASES if c.name == "av1-opus-webm"))
    spy = Spy()
    sampled = sample_video(path, method="keyframe", max_side=32, opener=spy)
    assert sampled.info.decoder == "pyav" and {r.decoder for r in spy.readers} == {"pyav"}
    assert [read_index(f) for f in sampled.frames.pixels] == list(sampled.frames.indices)


# --- where decord is not used, and falling back from it -----------------------------------


def test_decord_seeks_wrongly_in_mpeg_ps_which_is_why_pyav_reads_it(clips):
    """The evidence behind `backends.choose_decoder` sending MPEG-PS to PyAV: decord's seek
    returns other frames than asked (if this starts passing, decord was fixed: revisit)."""
    path = str(clip(clips, next(c for c in CASES if c.name == "mpeg2-mp2-mpg")))
    got = [read_index(DecordReader(path).read(np.array([i]))[0]) for i in (37, 50)]
    assert got != [37, 50]
    assert [read_index(f) for f in read_frames(path, [37, 50]).pixels] == [37, 50]


def test_decord_failing_to_decode_hands_over_to_pyav(clips, monkeypatch, caplog):
    path = str(clip(clips, next(c for c in CASES if c.name == "vp9-webm")))

    def broken(self, indices):
        raise RuntimeError("[10:00:00] /src/video_reader.cc:1: ERROR resize failed")

    monkeypatch.setattr(DecordReader, "read", broken)
    spy = Spy()
    with caplog.at_level("DEBUG", logger="vlmcli.video"):
        frames = read_frames(path, [12, 33], max_side=32, opener=spy)
    assert [read_index(f) for f in frames.pixels] == [12, 33]
    reader = spy.readers[-1]  # after the probe's
    assert reader.decoder == "pyav" and "decord failed to decode it: resize failed" in reader.decoder_reason
    assert "vp9-webm.webm: pyav reads it at 32x24 (decord failed to decode it: resize failed)" in caplog.text


def test_without_decord_pyav_reads_everything(clips, monkeypatch):
    path = str(clip(clips, next(c for c in CASES if c.name == "h264-mp4")))

    def missing(path, size):
        from vlmcli.errors import BackendUnavailableError

        raise BackendUnavailableError("Reading video with decord needs decord.")

    monkeypatch.setitem(backends.READERS, backends.Decoder.DECORD, missing)
    info = probe(path)
    assert info.decoder == "pyav"
    assert backends.open_video(path, None).decoder_reason == "decord is not installed"
    assert [read_index(f) for f in read_frames(path, [7, 40], info=info).pixels] == [7, 40]


# --- messages state only checked causes ----------------------------------------------------


def test_audio_only_files_say_no_video_stream(folder):
    with pytest.raises(VideoError, match=r"tone\.m4a has no video stream \(its streams: audio\)\.$"):
        probe(audio_only(folder))
    if "libmp3lame" in encoders():
        with pytest.raises(VideoError, match=r"song\.mp3 has no video stream \(its streams: audio, cover picture\)"):
            probe(audio_only(folder, cover=True))


def test_truncated_files_do_not_claim_a_missing_video_stream(clips, folder):
    messages = []
    for source, keep in ((clip_set().cuts_a.path, 0.5), (clips["h264-mp4"], 0.5)):
        if source is None:
            continue
        cut = folder / f"cut-{Path(source).name}"
        data = Path(source).read_bytes()
        cut.write_bytes(data[: int(len(data) * keep)])
        with pytest.raises(VideoError) as err:
            read_frames(cut, [0, 20], max_side=32)
        messages.append(str(err.value))
    assert messages and all("no video stream" not in m and "\n" not in m for m in messages)
    assert all("ffmpeg" in m or "truncated" in m or "was cut short" in m for m in messages)  # the checked or quoted reason


def test_truncated_faststart_mp4_is_called_truncated():
    with pytest.raises(VideoError, match=r"is truncated: its header lists 120 video frames but the file holds \d+\."):
        probe(clip_set().truncated_faststart)


# --- the CLI ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["vp9-streamed-webm", "av1-opus-webm"])
def test_cli_asks_about_vp9_and_av1_clips(clips, name, tiny_checkpoint, monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    path = str(clip(clips, next(c for c in CASES if c.name == name)))
    args = ["ask", path, "What happens?", "-m", str(tiny_checkpoint("qwen2_vl")), "--max-tokens", "2",
            "--json", "--frames", "4", "--debug"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (video,) = json.loads(result.stdout)["videos"]
    assert video["path"] == path and video["frames"] == 4
    if "decoder" in video:  # reported beside the sampling details
        assert video["decoder"] == "pyav"
    assert f"[debug] {path}: pyav reads it at 64x48 (" in result.stderr


# --- the pure parts: the decoder table and the packet index ----------------------------------


def facts(container: str, codec: str) -> StreamFacts:
    return StreamFacts(container=container, codec=codec, stream=0, width=64, height=48, fps=25.0, header_frames=0)


def test_decoder_table():
    mp4, mkv = "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"
    assert backends.choose_decoder(facts(mp4, "h264")).decoder is backends.Decoder.DECORD
    assert backends.choose_decoder(facts(mkv, "vp9")).decoder is backends.Decoder.DECORD
    assert backends.choose_decoder(facts(mkv, "libdav1d")) == backends.Choice(
        backends.Decoder.PYAV, "decord has no AV1 decoder")
    assert backends.choose_decoder(facts("mpeg", "mpeg2video")).reason == "decord seeks inexactly in MPEG-PS"
    assert backends.choose_decoder(facts("avi", "h264")).decoder is backends.Decoder.PYAV
    assert backends.choose_decoder(facts(mp4, "hevc")).decoder is backends.Decoder.PYAV
    assert "prores in mov" in backends.choose_decoder(facts(mp4, "prores")).reason


def test_open_gop_leading_pictures_seek_from_the_keyframe_before():
    # decode order: I0 P3 B1 B2 | CRA6 B4 B5 P9 B7 B8 (B4, B5 are shown before CRA6: leading)
    order = [(0, True), (3, False), (1, False), (2, False), (6, True), (4, False), (5, False),
             (9, False), (7, False), (8, False)]
    index = build_index([PacketInfo(p, None, k, 1) for p, k in order], time_base=0.04, fps=25.0,
                        container="matroska,webm")
    assert index.numbering is Numbering.PTS and index.frame_count == 10
    assert list(index.key_indices()) == [0, 6]
    assert index.seek_position(5) == 0  # a leading picture of CRA6 needs the GOP before
    assert index.seek_position(6) == 4 and index.seek_position(9) == 4
    assert index.frame_of(4) == 4 and index.frame_of(11) is None
    np.testing.assert_allclose(index.times, np.arange(10) * 0.04)
    assert index.end_s == pytest.approx(0.4)


def test_a_stream_cut_mid_gop_starts_at_its_first_keyframe():
    order = [(5, False), (3, False), (4, False), (6, True), (8, False), (7, False)]
    index = build_index([PacketInfo(p, p, k, 0) for p, k in order], time_base=0.1, fps=None, container="mpegts")
    assert index.frame_count == 3 and index.seek_position(0) == 0
    np.testing.assert_allclose(index.times, [0.0, 0.1, 0.2])
    assert index.end_s == pytest.approx(0.3)  # the last frame lasts the typical frame gap


def test_avi_frames_are_counted_in_decode_order():
    # AVI "pts" are decode times: B-frame video would be mislabelled by them
    packets = [PacketInfo(i + 1, i, i % 4 == 0, 1) for i in range(8)]
    index = build_index(packets, time_base=0.04, fps=25.0, container="avi")
    assert index.numbering is Numbering.COUNT
    assert list(index.key_indices()) == [0, 4] and index.seek_position(7) == 4
    assert index.position_of(5) == 5  # packets are found again by their DTS after a seek
    assert index.end_s == pytest.approx(8 / 25)


def test_pictures_hidden_by_an_edit_list_are_decoded_but_no_frames():
    # a trim without re-encoding: the GOP the cut falls in is kept, I-1 and B-2 before the cut hidden
    # decode order: I(-1, hidden) P2 B0 B1 | I4 B3 P6 B5 (pts in frames of 40 ms)
    order = [(-1, True, True), (2, False, False), (0, False, False), (1, False, False),
             (4, True, False), (3, False, False), (6, False, False), (5, False, False)]
    packets = [PacketInfo(p, None, k, 1, hidden=h) for p, k, h in order]
    index = build_index(packets, time_base=0.04, fps=25.0, container="mov,mp4,m4a,3gp,3g2,mj2")
    assert index.frame_count == 7 and len(index.stamps) == 8
    np.testing.assert_allclose(index.times, np.arange(7) * 0.04)  # the first shown picture is at 0
    assert index.seek_position(0) == 0 and index.seek_position(2) == 0  # from the hidden keyframe
    assert index.frame_of(-1) is None and index.frame_of(0) == 0 and index.frame_of(6) == 6
    assert list(index.key_indices()) == [4]  # the hidden keyframe is no frame


@pytest.mark.parametrize("codec", ["libx264", "libx265"])
def test_a_clip_trimmed_without_reencoding_reads_as_ffmpeg_shows_it(tmp_path, codec):
    """`ffmpeg -ss 1.3 -c copy` (as QuickTime's and phones' trim): an edit list hides the start of
    the GOP the cut falls in. PyAV's index had dropped those packets, losing every shown frame up
    to the next keyframe (17 of 67 here); decord reads each frame one off. Now PyAV reads it, exactly."""
    import subprocess

    from vlmcli.testing.media.video_clips import ffmpeg_exe, render_indexed

    if codec not in encoders():
        pytest.skip(f"the local ffmpeg has no {codec}")
    frames = render_indexed(100)
    source, trimmed = tmp_path / "source.mov", tmp_path / "trimmed.mov"
    quiet = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    params = ["-x265-params", "keyint=25:log-level=error"] if codec == "libx265" else ["-g", "25", "-bf", "2"]
    subprocess.run([*quiet, "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "64x48", "-r", "25", "-i", "-",
                    "-c:v", codec, *params, "-crf", "12", "-pix_fmt", "yuv420p", str(source)],
                   input=frames.tobytes(), check=True)
    subprocess.run([*quiet, "-ss", "1.3", "-i", str(source), "-c", "copy", str(trimmed)], check=True)
    raw = subprocess.run([*quiet, "-i", str(trimmed), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    shown = [read_index(f) for f in np.frombuffer(raw, np.uint8).reshape(-1, 48, 64, 3)]  # what players show
    spy = Spy()
    info = probe(trimmed, opener=spy)
    assert info.decoder == "pyav" and "edit list" in spy.readers[0].decoder_reason
    assert info.frame_count == len(shown) and shown[0] < 50  # the frames before the next keyframe are there
    every = read_frames(trimmed, range(info.frame_count), info=info)
    assert [read_index(f) for f in every.pixels] == shown
    assert every.timestamps[0] == 0.0 and every.timestamps[1] == pytest.approx(0.04)
    for i in (40, 3, 0, len(shown) - 1, 12):  # seeks, backwards and forwards
        assert read_index(read_frames(trimmed, [i], info=info).pixels[0]) == shown[i], i


@pytest.mark.parametrize(
    ("muxer", "codec", "name"),
    [("h264", "libx264", "cam01.h264"), ("hevc", "libx265", "cam02.265"), ("mpeg2video", "mpeg2video", "tape.m2v"),
     ("h264", "libx264", "export_no_extension")],
)
def test_raw_elementary_streams_are_timed_by_their_own_rate(tmp_path, muxer, codec, name):
    """A CCTV recorder's export is a raw H.264/HEVC stream (`.h264`, `.264`, `.265`): no
    container, no timestamps, and ffmpeg's demuxer makes them up at 25 fps. Such files were
    ignored in folders (unknown extension), and a 15 fps stream was timed 1.7x too short."""
    import subprocess

    from vlmcli.captions.discover import Candidate
    from vlmcli.captions.probe import probe as probe_file
    from vlmcli.testing.media.video_clips import ffmpeg_exe, render_indexed

    if codec not in encoders():
        pytest.skip(f"this ffmpeg has no {codec}")
    fps = 24 if codec == "mpeg2video" else 15  # MPEG-2 allows only the broadcast rates
    extra = ["-x265-params", "log-level=error"] if codec == "libx265" else ["-q:v", "2"] if codec == "mpeg2video" else []
    path = tmp_path / name
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "64x48",
         "-r", str(fps), "-i", "-", "-c:v", codec, "-g", "10", "-bf", "2", *extra, "-f", muxer, str(path)],
        input=render_indexed(90).tobytes(), check=True,
    )  # fmt: skip
    info = probe(path)
    assert (info.frame_count, info.fps, info.decoder) == (90, fps, "pyav")
    assert info.duration_s == pytest.approx(90 / fps) and not info.variable_rate
    wanted = [0, 4, 31, 32, 77, 89]
    read = read_frames(path, wanted, max_side=64)
    assert [read_index(f) for f in read.pixels] == wanted
    assert list(read.timestamps) == pytest.approx([i / fps for i in wanted])
    walked = probe_file(Candidate(str(path), explicit=False), videos=True)  # found in a folder: a video
    assert walked is not None and walked.kind == "video" and walked.error is None


def test_a_truncated_h264_faststart_mp4_read_by_decord_is_called_truncated(tmp_path):
    """decord read the frames that were left (10 s of 20) as a whole, shorter video: exit 0, no
    word. The header's frame count is checked whichever decoder reads the file."""
    import subprocess

    from vlmcli.testing.media.video_clips import ffmpeg_exe

    full = tmp_path / "full.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=20",
                    "-c:v", "libx264", "-preset", "ultrafast", "-movflags", "+faststart", str(full)], check=True)
    assert probe(full).decoder == "decord" and probe(full).frame_count == 500
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(VideoError, match=r"is truncated: its header lists 500 video frames but the file holds \d+\."):
        probe(cut)
