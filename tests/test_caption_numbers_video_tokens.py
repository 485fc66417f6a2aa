"""caption-dir --dry-run counts a clip's visual tokens as the model will (as `vlm ask
--dry-run` does): its total is the sum of the real run's `visual_tokens` column, for Qwen2-VL
and Qwen3-VL (two frames to a temporal patch), SmolVLM (frames as untiled images) and
LLaVA-OneVision (pooled frame grids). "Frames x one image" overcounted them several times."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.exports.results import read_results
from vlmcli.testing.fakes import isolate_env, real_photo
from vlmcli.testing.media.video_clips import write_video

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "mixed"
    root.mkdir()
    real_photo("astronaut").resize((256, 256)).save(root / "astronaut.png")
    rng = np.random.default_rng(1)
    write_video(root / "wide.mp4", rng.integers(0, 256, (20, 72, 192, 3), dtype=np.uint8), fps=10)
    write_video(root / "tall.mp4", rng.integers(0, 256, (13, 112, 80, 3), dtype=np.uint8), fps=12)
    return root


def _caption(*args) -> dict:
    result = runner.invoke(app, ["caption-dir", *map(str, args), "-q", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("family", "frames"),
    [("qwen2_vl", "8"), ("qwen2_vl", "5"), ("qwen3_vl", "7"), ("smolvlm", "4"), ("llava_onevision", "4")],
)
def test_dry_run_visual_tokens_are_the_real_runs(tiny_checkpoint, folder, tmp_path, family, frames):
    model = str(tiny_checkpoint(family))
    common = ("-m", model, "--videos", "--frames", frames, "--max-tokens", "2", "--format", "jsonl")
    planned = _caption(folder, "-o", tmp_path / "dry", "--dry-run", *common)
    _caption(folder, "-o", tmp_path / "out", *common)
    rows = read_results(tmp_path / "out")
    assert len(rows) == 3 and all(r["status"] == "ok" for r in rows)
    assert planned["visual_tokens"] == sum(int(r["visual_tokens"]) for r in rows), rows
