"""Video with an alpha channel reads with transparency on white, as pictures and animations do.

Before: a Telegram-style VP9 WebM sticker was read by decord (or ffmpeg's own VP9 decoder),
which drop the alpha kept beside each picture, and ProRes 4444 / QuickTime Animation / PNG-in-MOV
/ FFV1 frames were converted to RGB without it: the model saw the black stored under every
transparent pixel, while the same sticker as an animated WebP or PNG showed white.
"""

from __future__ import annotations

import functools
import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.testing.fakes import isolate_env
from vlmcli.testing.media.alpha_clips import CASES, HALF, HALF_ON_WHITE, TRANSPARENT, AlphaCase, write_alpha_clip
from vlmcli.testing.media.video_clips import read_index
from vlmcli.video import alpha
from vlmcli.video.backends import Decoder, choose_decoder, open_video
from vlmcli.video.decode import probe
from vlmcli.video.stream_facts import StreamFacts, inspect_video

runner = CliRunner()
REFERENCE = Path(__file__).resolve().parents[1] / "models" / "reference"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@functools.cache
def written(case: AlphaCase) -> Path:
    path = write_alpha_clip(case, Path(tempfile.mkdtemp(prefix="vlmcli-alpha-")))
    if path is None:
        pytest.skip(f"this ffmpeg has no {case.encoder} encoder")
    return path


# --- pure ---------------------------------------------------------------------------------------


def test_on_white_agrees_with_pillows_alpha_composite():
    rgba = np.random.default_rng(0).integers(0, 256, size=(32, 48, 4), dtype=np.uint8)  # (H, W, 4)
    white = Image.new("RGBA", (48, 32), (255, 255, 255, 255))
    pillow = np.asarray(Image.alpha_composite(white, Image.fromarray(rgba, "RGBA")).convert("RGB")).astype(int)
    ours = alpha.on_white(rgba).astype(int)
    assert np.abs(ours - pillow).max() <= 1
    assert tuple(alpha.on_white(np.array([[[10, 20, 30, 0], [10, 20, 30, 255]]], np.uint8))[0].tolist()[0]) == (255, 255, 255)


def test_pixel_formats_with_alpha():
    assert all(alpha.pixel_format_has_alpha(f) for f in ("yuva420p", "yuva444p10le", "argb", "rgba", "gbrap"))
    assert not any(alpha.pixel_format_has_alpha(f) for f in ("yuv420p", "rgb24", "nv12", None, "", "no-such-format"))


def test_only_webm_alpha_needs_libvpx():
    assert alpha.side_decoder("vp9", {"alpha_mode": "1"}, path="s.webm") == "libvpx-vp9"
    assert alpha.side_decoder("vp8", {"ALPHA_MODE": "1", "alpha_mode": "1"}, path="s.webm") == "libvpx"
    assert alpha.side_decoder("vp9", {}, path="s.webm") is None
    assert alpha.side_decoder("vp9", {"alpha_mode": "0"}, path="s.webm") is None
    assert alpha.side_decoder("h264", {"alpha_mode": "1"}, path="s.mkv") is None


def test_a_pyav_without_libvpx_reads_it_without_alpha_and_says_so(monkeypatch, caplog):
    import av

    monkeypatch.setattr(av, "codecs_available", set(av.codecs_available) - {"libvpx-vp9"})
    with caplog.at_level(logging.WARNING, logger="vlmcli.video"):
        assert alpha.side_decoder("vp9", {"alpha_mode": "1"}, path="/x/sticker.webm") is None
    assert "sticker.webm" in caplog.text and "no libvpx-vp9 decoder" in caplog.text


def test_decord_never_reads_alpha():
    plain = StreamFacts(container="matroska,webm", codec="vp9", stream=0, width=64, height=64, fps=10.0, header_frames=30)
    assert choose_decoder(plain).decoder is Decoder.DECORD
    with_alpha = StreamFacts(**{**plain.__dict__, "alpha": True, "alpha_decoder": "libvpx-vp9"})
    choice = choose_decoder(with_alpha)
    assert choice.decoder is Decoder.PYAV and "alpha" in choice.reason and "libvpx-vp9" in choice.reason


# --- clips other programs write -----------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=AlphaCase.id)
def test_transparency_reads_as_white_and_frames_stay_exact(case):
    path = written(case)
    facts = inspect_video(str(path))
    assert facts.alpha and (facts.alpha_decoder is not None) == (case.ext == "webm")
    reader = open_video(str(path), None)
    assert reader.decoder == "pyav" and "alpha" in reader.decoder_reason
    wanted = [25, 3, 17, 0, 18]  # back and forth across 10-frame GOPs: seeks restart the alpha decoder
    frames = reader.read(np.array(wanted))  # (5, 64, 64, 3)
    assert [read_index(frame[:32]) for frame in frames] == wanted
    assert frames[:, TRANSPARENT].min() >= 250  # was black (0) before: the colour stored under transparency
    half = frames[:, HALF].reshape(-1, 3).mean(axis=0)
    assert np.abs(half - np.array(HALF_ON_WHITE)).max() <= 3  # through YUV (and lossy VP8/VP9)


@pytest.mark.parametrize("case", [c for c in CASES if c.name in ("vp9-webm", "prores4444-mov")], ids=AlphaCase.id)
def test_scaled_frames_compose_before_scaling(case):
    """Composed on white, then scaled: no dark fringe from the hidden black bleeds in."""
    reader = open_video(str(written(case)), (32, 32))
    (frame,) = reader.read(np.array([7]))  # (32, 32, 3)
    assert frame.shape == (32, 32, 3)
    assert frame[17:23].min() >= 245  # inside the transparent band, next to its edges
    assert read_index(frame[:16]) == 7


def test_ask_about_a_webm_sticker(tmp_path):
    path = written(CASES[0])
    info = probe(path)
    assert (info.frame_count, info.decoder) == (30, "pyav")
    result = runner.invoke(app, ["ask", "-m", str(REFERENCE), str(path), "What happens?", "--max-tokens", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["videos"][0]["decoder"] == "pyav"
