"""HDR video (a phone's HLG, Android's and YouTube's PQ) is shown to the model as its SDR
rendition. Read as if it were SDR, a PQ clip of a photo came back dark and washed out
(mean error ~37 of 255 against the photo); now about what an SDR clip of it gives."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.testing.fakes import install_fake_engine, isolate_env, real_photo
from vlmcli.testing.media.codec_clips import encoders
from vlmcli.testing.media.hdr_clips import hdr_signal, hlg_signal, pq_signal, write_hdr_clip
from vlmcli.testing.media.video_clips import ffmpeg_exe
from vlmcli.video.decode import probe, read_frames
from vlmcli.video.hdr import KNEE, Transfer, hlg_to_scene, pq_to_nits, roll_off, to_sdr, transfer_of


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.asarray(real_photo("astronaut").resize((192, 192)))  # (H, W, 3) uint8


# -- the maths (pure) ---------------------------------------------------------------------


def test_transfer_functions_invert_the_bt2100_curves():
    nits = np.array([0.0, 0.1, 1.0, 100.0, 203.0, 1000.0, 4000.0, 10000.0])
    assert pq_to_nits(pq_signal(nits)) == pytest.approx(nits, rel=1e-6, abs=1e-6)
    assert pq_signal(np.array([203.0]))[0] == pytest.approx(0.58, abs=0.005)  # BT.2408: 58% PQ is reference white
    scene = np.linspace(0.0, 1.0, 21)
    assert hlg_to_scene(hlg_signal(scene)) == pytest.approx(scene, abs=1e-9)
    assert hlg_signal(np.array([0.26496256]))[0] == pytest.approx(0.75, abs=1e-4)  # BT.2408: 75% HLG
    assert transfer_of(16) is Transfer.PQ and transfer_of(18) is Transfer.HLG
    assert transfer_of(1) is None and transfer_of(None) is None  # BT.709, unknown: SDR


def test_highlights_roll_off_below_white_and_the_rest_is_untouched():
    grey = np.array([[[0.2, 0.2, 0.2], [0.5, 0.4, 0.3], [KNEE * 0.99, KNEE * 0.99, KNEE * 0.99]]])
    assert roll_off(grey) == pytest.approx(grey)
    bright = np.array([[[x, x, x] for x in (0.9, 1.0, 2.0, 5.0, 50.0)]])
    luma = roll_off(bright)[0, :, 0]
    assert np.all(np.diff(luma) > 0) and np.all(luma < 1.0) and luma[0] > KNEE
    warm = roll_off(np.array([[[4.0, 2.0, 1.0]]]))[0, 0]
    assert warm[0] / warm[1] == pytest.approx(2.0) and warm[1] / warm[2] == pytest.approx(2.0)  # hue kept


@pytest.mark.parametrize("transfer", ["pq", "hlg"])
def test_to_sdr_returns_the_picture_from_its_hdr_signal(photo, transfer):
    back = to_sdr(hdr_signal(photo, transfer), Transfer(transfer)).astype(int)
    error = np.abs(back - photo.astype(int))
    bright = (photo.astype(float) / 255).max(axis=-1) > 0.85  # only highlights are rolled off
    assert error[~bright].max() <= 1 and error.mean() < 1.5


# -- decoding real HDR clips --------------------------------------------------------------


def _sdr_clip(path, picture) -> None:
    height, width = picture.shape[:2]
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
         "-s", f"{width}x{height}", "-r", "10", "-i", "-", "-c:v", "libx265", "-x265-params", "log-level=error",
         "-crf", "8", "-pix_fmt", "yuv420p", "-tag:v", "hvc1", str(path)],
        input=picture.tobytes() * 6, check=True,
    )  # fmt: skip


@pytest.mark.parametrize(("transfer", "codec"), [("pq", "libx265"), ("hlg", "libx265"), ("pq", "libvpx-vp9")])
def test_hdr_clips_decode_close_to_their_sdr_rendition(photo, tmp_path, transfer, codec):
    if codec not in encoders():
        pytest.skip(f"this ffmpeg has no {codec}")
    clip = write_hdr_clip(tmp_path / f"{transfer}.{'mp4' if codec == 'libx265' else 'webm'}", photo, transfer=transfer, codec=codec)
    info = probe(clip)
    assert info.decoder == "pyav"  # decord reads 8 bits only: PyAV decodes HDR at 16 bits
    frame = read_frames(clip, [2], max_side=192, info=info).pixels[0].astype(int)  # (H, W, 3)
    _sdr_clip(tmp_path / "sdr.mp4", photo)
    sdr = read_frames(tmp_path / "sdr.mp4", [2], max_side=192).pixels[0].astype(int)
    hdr_error, sdr_error = np.abs(frame - photo).mean(), np.abs(sdr - photo).mean()
    assert hdr_error < sdr_error + 2.0, (hdr_error, sdr_error)  # about the SDR clip's own coding error

    import av  # what reading the signal as SDR gives: the bug this fixes

    with av.open(str(clip)) as container:
        plain = list(container.decode(video=0))[2].to_ndarray(format="rgb24").astype(int)
    assert np.abs(plain - photo).mean() > 5 * hdr_error


def test_ask_about_a_phone_hdr_clip(monkeypatch, photo, tmp_path):
    fake = install_fake_engine(monkeypatch)
    clip = write_hdr_clip(tmp_path / "IMG_0042.MOV", photo, transfer="hlg")
    result = CliRunner().invoke(app, ["ask", str(clip), "What is this?", "--frames", "2", "--json"])
    assert result.exit_code == 0, result.output
    (video,) = fake.requests[0].videos
    assert abs(video.frames.astype(int).mean() - photo.astype(int).mean()) < 3  # not dark and washed out
