"""The committed reference model (models/reference) answers held-out world questions
through vlmcli's Engine and CLI: a fast slice of `bench/eval_reference.py`.

The slice is 8 held-out questions per task (56 image, 24 video questions); the floor is the
issue's 90% for images and 95% (one miss) for clips (the full suite, 100 per task: 96.3%
images, 99.3% videos, bench/RESULTS.md). At 90% the clip slice let a 12-point drop through
(transformers 5.25's Qwen3-VL video layout against a model trained on 5.23's: 91.7% here).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.world import IMAGE_TASK_NAMES, VIDEO_TASK_NAMES, Split, suite
from models.world.evaluate import Setting, run_setting

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "reference"
PER_TASK = 8
FLOOR = 0.90
VIDEO_FLOOR = 0.95


@pytest.fixture(scope="module")
def heldout():
    return suite(split=Split.HELDOUT, per_task=PER_TASK)


def test_the_checkpoint_is_small_and_complete():
    assert (MODEL / "config.json").is_file() and (MODEL / "model.safetensors").is_file()
    assert (MODEL / "model.safetensors").stat().st_size < 8_000_000
    config = json.loads((MODEL / "config.json").read_text())
    assert config["model_type"] == "qwen3_vl"


def test_images_at_full_tokens(heldout):
    result = run_setting(MODEL, Setting(name="images", tasks=IMAGE_TASK_NAMES), heldout)
    assert result.error is None, result.error
    assert result.overall >= FLOOR, result.accuracy


def test_videos_through_the_native_video_path(heldout):
    result = run_setting(MODEL, Setting(name="videos", tasks=VIDEO_TASK_NAMES, frames=16), heldout)
    assert result.error is None, result.error
    assert result.visual_tokens == 128  # 16 frames -> 8 temporal patches of 4 x 4 tokens
    assert result.overall >= VIDEO_FLOOR, result.accuracy


def test_the_small_dot_needs_the_resolution(heldout):
    native = run_setting(MODEL, Setting(name="native", tasks=("detail",)), heldout)
    low = run_setting(MODEL, Setting(name="low", tasks=("detail",), max_pixels=64 * 64), heldout)
    assert native.visual_tokens == 64 and low.visual_tokens == 4
    assert native.overall > low.overall


def test_vlm_ask_answers_the_sample_image(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from vlmcli.cli import app

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    samples = json.loads((MODEL / "samples" / "samples.json").read_text())
    for sample in samples:
        args = ["ask", str(MODEL / "samples" / sample["file"]), sample["question"], "-m", str(MODEL), "--dtype", "float32"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == sample["answer"]


def test_vlm_ask_on_a_one_frame_video(monkeypatch, tmp_path):
    """A still saved as an .mp4 by ffmpeg: one frame. Qwen3-VL's video processor refuses fewer
    frames than a temporal patch; vlmcli holds the frame instead of failing with its ValueError."""
    import numpy as np
    from typer.testing import CliRunner

    from vlmcli.cli import app
    from vlmcli.testing.media.video_clips import write_video

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    frame = np.full((1, 64, 64, 3), 200, np.uint8)  # (T=1, H, W, 3)
    still = write_video(tmp_path / "still.mp4", frame, fps=25)
    args = ["ask", str(still), "What color is the background?", "-m", str(MODEL), "--dtype", "float32", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (video,) = json.loads(result.stdout)["videos"]
    assert video["frames"] == 1 and video["units"] == 1 and video["visual_tokens"] > 0
