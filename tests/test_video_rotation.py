"""Portrait phone videos (landscape frames plus a display rotation) come out upright, as ffmpeg shows them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from vlmcli.video import backends
from vlmcli.video.decode import probe, read_frames
from vlmcli.video.rotation import quarter_turns, rotate, stored_size

WIDTH, HEIGHT = 160, 96


def _ffmpeg(*args: str) -> None:
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", *args], check=True)


def _first_frame_as_ffmpeg_shows_it(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """Frame 0 decoded by the ffmpeg program itself, which applies the display rotation (autorotate)."""
    raw = path.with_suffix(".rgb")
    _ffmpeg("-i", str(path), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", str(raw))
    return np.fromfile(raw, np.uint8).reshape(*shape, 3)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[int, Path]:
    """The same landscape H.264 clip with display rotations 0, 90, -90 and 180 (stream copies)."""
    folder = tmp_path_factory.mktemp("rotation")
    plain = folder / "rot0.mp4"
    _ffmpeg("-f", "lavfi", "-i", f"testsrc=duration=2:size={WIDTH}x{HEIGHT}:rate=8", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(plain))
    out = {0: plain}
    for degrees in (90, -90, 180):
        path = folder / f"rot{degrees}.mp4"
        _ffmpeg("-display_rotation", str(degrees), "-i", str(plain), "-c", "copy", str(path))
        out[degrees] = path
    return out


@pytest.mark.parametrize("decoder", ["default", "pyav"])
@pytest.mark.parametrize("degrees", [0, 90, -90, 180])
def test_frames_are_upright_like_ffmpeg_shows_them(clips, monkeypatch, degrees, decoder):
    if decoder == "pyav":
        def missing(path, size):
            from vlmcli.errors import BackendUnavailableError

            raise BackendUnavailableError("no decord")

        monkeypatch.setitem(backends.READERS, backends.Decoder.DECORD, missing)
    path = clips[degrees]
    portrait = degrees in (90, -90)
    shape = (WIDTH, HEIGHT) if portrait else (HEIGHT, WIDTH)  # (H, W) as displayed
    info = probe(path)
    assert (info.height, info.width) == shape
    ours = read_frames(path, [0], info=info).pixels[0].astype(int)  # (H, W, 3)
    shown = _first_frame_as_ffmpeg_shows_it(path, shape).astype(int)
    assert np.abs(ours - shown).mean() < 4  # same picture (colour conversion may differ slightly)
    for turns in (1, 2, 3):  # ... and not a turned one
        wrong = np.rot90(shown, turns)
        if wrong.shape == ours.shape:
            assert np.abs(ours - wrong).mean() > 40


def test_resizing_keeps_the_upright_shape(clips):
    frames = read_frames(clips[90], [0, 5], max_side=48).pixels
    assert frames.shape == (2, 48, 29, 3)  # portrait: 96 x 160 displayed, longest side 48


def test_the_reason_says_it_was_turned(clips):
    reader = backends.open_video(str(clips[-90]), None)
    assert reader.decoder_reason.endswith("turned 270 degrees counter-clockwise (the container's display rotation)")
    assert "turned" not in backends.open_video(str(clips[0]), None).decoder_reason


def test_quarter_turn_arithmetic():
    assert [quarter_turns(d) for d in (0, 90, -90, 180, -180, 270, 89.6)] == [0, 1, 3, 2, 2, 3, 1]
    frames = np.arange(2 * 3 * 5 * 3, dtype=np.uint8).reshape(2, 3, 5, 3)  # (N, H, W, 3)
    assert rotate(frames, 1).shape == (2, 5, 3, 3) and rotate(frames, 0) is frames
    assert np.array_equal(rotate(rotate(frames, 1), 3), frames)
    assert stored_size((30, 50), 1) == (50, 30) and stored_size((30, 50), 2) == (30, 50) and stored_size(None, 1) is None


def test_an_iphone_like_hevc_mov_is_upright(tmp_path):
    """What an iPhone writes: HEVC ('hvc1') in QuickTime with a 90-degree display rotation; PyAV reads HEVC."""
    plain, path = tmp_path / "landscape.mov", tmp_path / "IMG_0001.MOV"
    _ffmpeg("-f", "lavfi", "-i", f"testsrc=duration=2:size={WIDTH}x{HEIGHT}:rate=8", "-c:v", "libx265", "-tag:v", "hvc1",
            "-pix_fmt", "yuv420p", "-x265-params", "log-level=error", str(plain))
    _ffmpeg("-display_rotation", "90", "-i", str(plain), "-c", "copy", str(path))
    info = probe(path)
    assert info.decoder == "pyav" and (info.width, info.height) == (HEIGHT, WIDTH)
    ours = read_frames(path, [3], info=info).pixels[0].astype(int)
    _ffmpeg("-i", str(path), "-vf", "select=eq(n\\,3)", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", str(tmp_path / "f3.rgb"))
    shown = np.fromfile(tmp_path / "f3.rgb", np.uint8).reshape(WIDTH, HEIGHT, 3).astype(int)
    assert np.abs(ours - shown).mean() < 4
