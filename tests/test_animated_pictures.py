"""Animated GIF, WebP and APNG, written by ffmpeg and by Pillow, read as the videos they are.

Before: `vlm video-summarize sticker.webp` failed ("ffmpeg has no decoder for its video
stream": PyAV's ffmpeg cannot decode animated WebP), and `vlm ask reaction.gif "what
happens?"` answered from frame one. Now Pillow composes the frames (`video/decode_pillow.py`)
and `ask`, `describe`, `caption-dir --videos` and `video-summarize` read animations as clips.
"""

from __future__ import annotations

import functools
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from vlmcli.captions.summary import FIRST_FRAME_NOTE
from vlmcli.cli import app
from vlmcli.media.animation import frame_count, picture_format
from vlmcli.media.images import decode_image
from vlmcli.testing.fakes import isolate_env
from vlmcli.testing.media.animations import ffmpeg_animation, pillow_delays_ms, pillow_gif
from vlmcli.testing.media.video_clips import render_scenes
from vlmcli.video.decode import PyAVReader, probe, read_frames
from vlmcli.video.decode_pillow import AnimationReader, Timeline, shown_delays_ms, webp_delays_ms
from vlmcli.video.sample import sample_video
from vlmcli.video.sampling import SamplingOptions

runner = CliRunner()
REFERENCE = Path(__file__).resolve().parents[1] / "models" / "reference"
SCENES = [12, 10, 14]  # frames at 10 fps: cuts at 12 and 22
CUTS = (12, 22)
SUFFIXES = (".gif", ".webp", ".apng")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@functools.cache
def scenes() -> np.ndarray:
    frames, cuts = render_scenes(SCENES, width=64, height=48, seed=3)
    assert cuts == CUTS
    return frames  # (36, 48, 64, 3)


@functools.cache
def written(suffix: str) -> Path:
    return ffmpeg_animation(Path(tempfile.mkdtemp(prefix="vlmcli-anim-")) / f"cuts{suffix}", scenes(), fps=10)


@functools.cache
def slideshow() -> Path:
    """A GIF of three slides with uneven delays: 0.2 s, 2 s, then 0.2 s (Pillow writes it)."""
    colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]
    frames = [np.full((32, 48, 3), c, np.uint8) for c in colours]
    return pillow_gif(Path(tempfile.mkdtemp(prefix="vlmcli-anim-")) / "slides.gif", frames, delays_ms=[200, 2000, 200])


# --- pure ---------------------------------------------------------------------------------------


def test_browsers_show_tiny_delays_for_100_ms():
    assert shown_delays_ms([0, 10, 20, 40, None]).tolist() == [100, 100, 20, 40, 100]


def test_timeline_from_delays():
    timeline = Timeline.from_delays(format="GIF", size=(4, 3), delays_ms=[200, 2000, 0])
    assert timeline.starts.tolist() == pytest.approx([0.0, 0.2, 2.2]) and timeline.end_s == pytest.approx(2.3)
    assert timeline.frame_count == 3


def test_which_pictures_are_animations(tmp_path):
    assert picture_format(written(".webp").read_bytes()[:16]) == "WEBP"
    for suffix in SUFFIXES:
        assert frame_count(written(suffix).read_bytes()) == 36, suffix
    still = io.BytesIO()
    Image.new("RGB", (8, 8)).save(still, "GIF")
    assert frame_count(still.getvalue()) == 1
    pages = io.BytesIO()  # a two-page TIFF is a document, an MPO a camera's pair: not animations
    Image.new("RGB", (8, 8)).save(pages, "TIFF", save_all=True, append_images=[Image.new("RGB", (8, 8))])
    assert frame_count(pages.getvalue()) == 1
    assert frame_count(b"GIF89a" + b"\0" * 40) == 1  # damaged: the picture decoder explains it


def test_webp_delays_from_the_chunk_headers_equal_pillows(tmp_path):
    """ffmpeg's and Pillow's animated WebP, uneven delays too: the ANMF headers say what Pillow
    learns by decoding every frame."""
    uneven = [Image.fromarray(np.full((16, 24, 3), 40 * i, np.uint8)) for i in range(5)]
    uneven[0].save(tmp_path / "uneven.webp", save_all=True, append_images=uneven[1:], duration=[40, 0, 500, 10, 70])
    for path in (written(".webp"), tmp_path / "uneven.webp"):
        assert webp_delays_ms(str(path)) == pillow_delays_ms(path), path
    assert webp_delays_ms(str(written(".gif"))) is None


# --- reading ------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_ffmpeg_written_animations_probe_as_videos(suffix):
    info = probe(written(suffix))
    assert (info.frame_count, info.width, info.height, info.decoder) == (36, 64, 48, "pillow")
    assert info.fps == pytest.approx(10, rel=0.02) and info.duration_s == pytest.approx(3.6, rel=0.02)
    assert info.frame_times is None  # equal delays: constant rate


@pytest.mark.parametrize("suffix", [".webp", ".apng"])
def test_lossless_animations_read_back_exactly(suffix):
    """Lossless WebP and APNG: every frame, read sparsely and out of step, is the frame written."""
    wanted = [0, 5, 11, 12, 30, 35]
    frames = read_frames(written(suffix), wanted)
    assert frames.indices == tuple(wanted)
    assert np.array_equal(frames.pixels, scenes()[wanted])


def test_gif_frames_equal_ffmpegs_own_decode():
    path = str(written(".gif"))
    wanted = np.array([0, 3, 12, 21, 35])
    ours = AnimationReader(path).read(wanted)  # (5, 48, 64, 3)
    assert np.array_equal(ours, PyAVReader(path).read(wanted))


def test_reading_back_and_forth_restarts_cleanly():
    reader = AnimationReader(str(written(".gif")))
    late, early = reader.read(np.array([30])), reader.read(np.array([2]))
    assert np.array_equal(early, AnimationReader(str(written(".gif"))).read(np.array([2])))
    assert not np.array_equal(late, early)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_the_scene_scan_finds_the_cuts(suffix):
    sampled = sample_video(written(suffix), method="keyframe", options=SamplingOptions(frames=6))
    assert tuple(cut.index for cut in sampled.plan.cuts) == CUTS


def test_an_avif_sequence_is_a_video_too():
    """ffmpeg's AVIF image sequence (brand avis), lossy AV1: probed, scanned and asked about."""
    from PIL import features

    if not features.check("avif"):
        pytest.skip("this Pillow has no AVIF support")
    path = written(".avif")
    assert picture_format(path.read_bytes()[:16]) == "AVIF" and frame_count(path.read_bytes()) == 36
    info = probe(path)
    assert (info.frame_count, info.decoder) == (36, "pillow") and info.duration_s == pytest.approx(3.6, rel=0.02)
    sampled = sample_video(path, method="keyframe", options=SamplingOptions(frames=6))
    assert tuple(cut.index for cut in sampled.plan.cuts) == CUTS
    result = runner.invoke(app, ["ask", "-m", str(REFERENCE), str(path), "What happens?", "--max-tokens", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["videos"][0]["decoder"] == "pillow"


def test_uneven_delays_are_time_on_screen():
    info = probe(slideshow())
    assert info.frame_times == pytest.approx((0.0, 0.2, 2.2)) and info.duration_s == pytest.approx(2.4)
    sampled = sample_video(slideshow(), options=SamplingOptions(frames=6))  # uniform: by time
    assert list(sampled.frames.indices) == [0, 1, 2]  # duplicates of the long slide merged
    assert [round(t, 1) for t in sampled.frames.timestamps] == [0.0, 0.2, 2.2]


def test_transparency_is_on_white_as_for_the_still_picture(tmp_path):
    frames = []
    for step in range(4):
        rgba = np.zeros((24, 24, 4), np.uint8)  # (H, W, 4) transparent
        rgba[4:12, 2 + 4 * step : 10 + 4 * step] = (200, 30, 30, 255)
        frames.append(rgba)
    path = pillow_gif(tmp_path / "sticker.gif", frames, delays_ms=[100] * 4, disposal=2)
    first = AnimationReader(str(path)).read(np.array([0, 3]))
    still = np.asarray(decode_image(path.read_bytes(), "sticker.gif"))
    assert np.array_equal(first[0], still) and tuple(first[0][0, 0]) == (255, 255, 255)
    assert tuple(first[1][20, 20]) == (255, 255, 255) and tuple(first[1][6, 16]) == (200, 30, 30)


def test_a_truncated_animation_is_one_sentence(tmp_path):
    from vlmcli.errors import VideoError

    broken = tmp_path / "broken.webp"
    broken.write_bytes(written(".webp").read_bytes()[:3000])
    with pytest.raises(VideoError) as error:
        probe(broken)
    assert "broken.webp" in str(error.value) and "\n" not in str(error.value)


# --- commands -----------------------------------------------------------------------------------


def test_ask_reads_an_animated_webp_as_a_video():
    result = runner.invoke(app, ["ask", "-m", str(REFERENCE), str(written(".webp")), "What happens?",
                                 "--max-tokens", "3", "--json", "--frames", "8"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    (video,) = answer["videos"]
    assert answer["images"] == [] and video["decoder"] == "pillow" and video["frames"] == 8


def test_from_a_pipe_only_the_first_frame_with_a_note():
    result = runner.invoke(app, ["ask", "-m", str(REFERENCE), "-", "What happens?", "--max-tokens", "3", "--json"],
                           input=written(".gif").read_bytes())
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["videos"] == [] and len(answer["images"]) == 1
    assert "note: standard input holds an animation (36 frames)" in result.stderr


def test_video_summarize_an_animated_webp():
    result = runner.invoke(app, ["video-summarize", "-m", str(REFERENCE), str(written(".webp")), "--dry-run",
                                 "--json", "-q"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["detection"]["cut_frames"] == list(CUTS)


def test_caption_dir_captions_animations_as_clips_with_videos(tmp_path):
    folder = tmp_path / "memes"
    folder.mkdir()
    for suffix in SUFFIXES:
        (folder / f"cuts{suffix}").write_bytes(written(suffix).read_bytes())
    (folder / "broken.webp").write_bytes(written(".webp").read_bytes()[:3000])
    Image.fromarray(scenes()[0]).save(folder / "still.png")
    common = ["--model", str(REFERENCE), "--max-tokens", "2"]
    as_pictures = runner.invoke(app, ["caption-dir", str(folder), "-o", str(tmp_path / "a.parquet"), *common])
    as_clips = runner.invoke(app, ["caption-dir", str(folder), "-o", str(tmp_path / "b.parquet"), "--videos", *common])
    assert (as_pictures.exit_code, as_clips.exit_code) == (9, 9), (as_pictures.output, as_clips.output)
    import pyarrow.parquet as pq

    def tokens(name: str) -> dict[str, int | None]:
        rows = pq.read_table(tmp_path / name).to_pylist()
        return {Path(r["path"]).name: r["visual_tokens"] for r in rows}

    assert "3 animations read by the first frame: --videos reads the motion" in as_pictures.stderr
    assert "animation" not in as_clips.stderr
    pictures, clips = tokens("a.parquet"), tokens("b.parquet")
    assert pictures["broken.webp"] is None and clips["broken.webp"] is None  # one error row each
    assert clips["still.png"] == pictures["still.png"]
    for suffix in SUFFIXES:  # a clip of frames costs more than its first frame
        assert clips[f"cuts{suffix}"] > pictures[f"cuts{suffix}"], suffix
    dry = runner.invoke(app, ["caption-dir", str(folder), "-o", str(tmp_path / "c"), "--dry-run", "--json", "-q",
                              "--model", str(REFERENCE)])
    assert json.loads(dry.stdout)["counts"]["animations"] == 3
    notes = {Path(r["path"]).name: r["notes"] for r in pq.read_table(tmp_path / "a.parquet").to_pylist()}
    assert notes["cuts.gif"] == FIRST_FRAME_NOTE and notes["still.png"] is None  # the row says it too
    assert all(r["notes"] is None for r in pq.read_table(tmp_path / "b.parquet").to_pylist())
    assert "warning:" not in as_pictures.stderr and "read with notes" not in as_pictures.stderr  # counted once above

