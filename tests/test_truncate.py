"""`--truncate`: a prompt over the context lowers the resolution until it fits, visibly.

Tiny checkpoints with their context shortened in config.json, so the photos overflow it.
"""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from vlmcli.testing.fakes import isolate_env
from vlmcli.testing.media.video_clips import clip_set
from vlmcli.cli import app
from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.engine.fit import prepare_batch
from vlmcli.engine.generate import check_context
from vlmcli.engine.loader import load_planner
from vlmcli.errors import ContextLengthError
from vlmcli.testing import sample_photos
from vlmcli.tiling import ResolutionPolicy, largest_fitting, lowered_policy

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture()
def photo(tmp_path):
    path = tmp_path / "photo.png"
    sample_photos()[1].save(path)  # 600x400
    return path


def short_context(tiny_checkpoint, tmp_path, family: str, limit: int) -> str:
    folder = tmp_path / f"short-{family}"
    shutil.copytree(tiny_checkpoint(family), folder)
    config = json.loads((folder / "config.json").read_text())
    config["text_config"]["max_position_embeddings"] = limit
    (folder / "config.json").write_text(json.dumps(config))
    return str(folder)


def plan(args: list[str]) -> dict:
    result = runner.invoke(app, [*args, "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- pure search -----------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [1, 2, 3, 777, 5000, 99_999, 100_000])
def test_largest_fitting_finds_the_threshold_closely(threshold):
    calls = []

    def fits(value: int) -> bool:
        calls.append(value)
        return value <= threshold

    found = largest_fitting(start=100_000, fits=fits)
    assert found is not None and found <= threshold
    assert found >= threshold * 63 / 64 - 1  # halving, then 6 bisection steps
    assert len(calls) <= 17 + 6


def test_largest_fitting_none_and_lowered_policy():
    assert largest_fitting(start=1000, fits=lambda v: False) is None
    with pytest.raises(ValueError):
        largest_fitting(start=0, fits=lambda v: True)
    policy = ResolutionPolicy(max_tiles=4, max_pixels=50_000, min_pixels=40_000)
    assert lowered_policy(policy, 10_000) == ResolutionPolicy(max_tiles=4, max_pixels=10_000, min_pixels=10_000)
    assert lowered_policy(policy, 45_000).min_pixels == 40_000  # the floor is lowered only under the cap
    assert lowered_policy(policy, 90_000).max_pixels == 50_000  # never raised
    assert lowered_policy(ResolutionPolicy(), 7).max_pixels == 7


# --- engine ----------------------------------------------------------------------------------


def test_fits_at_the_highest_resolution_that_fits(tiny_checkpoint, tmp_path):
    photos = sample_photos()
    request = Request(prompt="What is here?", images=(ImageInput(photos[1]),))
    full = load_planner(EngineConfig(model=str(tiny_checkpoint("qwen2_vl")))).adapter.prepare(request)
    needed = int(full.input_ids.shape[0])
    folder = short_context(tiny_checkpoint, tmp_path, "qwen2_vl", needed)
    adapter = load_planner(EngineConfig(model=folder)).adapter
    with pytest.raises(ContextLengthError, match="--truncate"):  # without --truncate: refused
        prepare_batch(adapter, [request], truncate=False, answer_tokens=4)
    with pytest.raises(ContextLengthError, match="--truncate"):  # as the loop's own check does
        check_context(needed, adapter.config)
    batch = prepare_batch(adapter, [request], truncate=True, answer_tokens=4)
    fit = batch.fit
    assert fit is not None and fit.needed_tokens == needed and fit.context_length == needed
    assert fit.prompt_tokens == int(batch.requests[0].input_ids.shape[0]) <= needed - 4
    assert batch.adapter.policy.max_pixels == fit.max_pixels and adapter.policy.is_native  # original untouched
    width, height = batch.requests[0].images[0].resized
    assert width * height <= fit.max_pixels
    # the next resolution step up would not have fitted: the fit is tight
    bigger = adapter.with_policy(ResolutionPolicy(max_pixels=fit.max_pixels * 2)).prepare(request)
    assert int(bigger.input_ids.shape[0]) > needed - 4


def test_real_run_json_reports_the_lowered_resolution(tiny_checkpoint, tmp_path, photo):
    args = ["ask", str(photo), "What is here?", "--max-tokens", "3"]
    full = plan([*args, "-m", str(tiny_checkpoint("qwen2_vl"))])
    folder = short_context(tiny_checkpoint, tmp_path, "qwen2_vl", full["prompt_tokens"])
    refused = runner.invoke(app, [*args, "-m", folder, "--json"])
    assert refused.exit_code == 5 and "--truncate" in refused.stderr

    fitted = plan([*args, "-m", folder, "--truncate"])
    assert fitted["truncated"]["needed_tokens"] == full["prompt_tokens"]
    assert fitted["prompt_tokens"] < full["prompt_tokens"] and fitted["prompt_tokens"] + 3 <= fitted["context_length"]
    assert fitted["images"][0]["visual_tokens"] < full["images"][0]["visual_tokens"]

    real = runner.invoke(app, [*args, "-m", folder, "--json", "--truncate"])
    assert real.exit_code == 0, real.output
    record = json.loads(real.stdout)
    assert record["truncated"] == fitted["truncated"]
    assert record["prompt_tokens"] == fitted["prompt_tokens"]
    assert record["images"][0]["resized"] == fitted["images"][0]["resized"]
    assert record["images"][0]["visual_tokens"] == fitted["images"][0]["visual_tokens"]
    assert real.stderr.count("\n") == 1 and "--truncate lowered the resolution" in real.stderr


def test_dry_run_warns_on_stderr_and_describe_takes_the_flag(tiny_checkpoint, tmp_path, photo):
    full = plan(["describe", str(photo), "-m", str(tiny_checkpoint("idefics3"))])
    folder = short_context(tiny_checkpoint, tmp_path, "idefics3", full["prompt_tokens"] - 10)
    result = runner.invoke(app, ["describe", str(photo), "-m", folder, "--dry-run", "--truncate", "--max-tokens", "8"])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("warning: the prompt needed") and result.stderr.count("\n") == 1
    assert "prompt:" in result.stdout


def test_llava15_tiles_are_dropped_to_fit(tiny_checkpoint, tmp_path, photo):
    args = ["ask", str(photo), "q?", "--min-pixels", str(6 * 56 * 56), "--max-tiles", "6", "--max-tokens", "4"]
    full = plan([*args, "-m", str(tiny_checkpoint("llava"))])
    assert full["images"][0]["tiles"] > 2
    folder = short_context(tiny_checkpoint, tmp_path, "llava", full["prompt_tokens"] - 20)
    fitted = plan([*args, "-m", folder, "--truncate"])
    image = fitted["images"][0]
    assert 1 <= image["tiles"] < full["images"][0]["tiles"] and image["visual_tokens"] == image["tiles"] * 16
    assert fitted["truncated"]["max_tiles"] == 6


def test_fixed_cost_that_cannot_fit_fails_clearly(tiny_checkpoint, tmp_path, photo):
    folder = short_context(tiny_checkpoint, tmp_path, "llava", 20)  # one 16-token view + text > 20
    args = ["ask", str(photo), "q?", "-m", folder, "--dry-run", "--json", "--truncate", "--max-tokens", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 5 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "lowest resolution" in result.stderr and "20" in result.stderr


def test_video_frames_are_lowered_too(tiny_checkpoint, tmp_path):
    clip = str(clip_set().motion.path)
    args = ["ask", clip, "What happens?", "--frames", "4", "--max-tokens", "2"]
    full = plan([*args, "-m", str(tiny_checkpoint("qwen2_vl"))])
    folder = short_context(tiny_checkpoint, tmp_path, "qwen2_vl", full["prompt_tokens"] - 2)
    fitted = plan([*args, "-m", folder, "--truncate"])
    assert fitted["videos"][0]["visual_tokens"] < full["videos"][0]["visual_tokens"]
    assert fitted["videos"][0]["frames"] == 4  # frames are kept, only their resolution drops
    real = runner.invoke(app, [*args, "-m", folder, "--json", "--truncate"])
    assert real.exit_code == 0, real.output
    assert json.loads(real.stdout)["videos"][0] == fitted["videos"][0]


def test_engine_generates_after_fitting(tiny_checkpoint, tmp_path):
    request = Request(prompt="What is here?", images=(ImageInput(sample_photos()[1]),))
    adapter = load_planner(EngineConfig(model=str(tiny_checkpoint("qwen2_vl")))).adapter
    needed = int(adapter.prepare(request).input_ids.shape[0])
    folder = short_context(tiny_checkpoint, tmp_path, "qwen2_vl", needed)
    engine = Engine.load(EngineConfig(model=folder, device="cpu", dtype="float32", truncate=True))
    (result,) = engine.generate([request], GenerationConfig(max_tokens=3))
    assert result.fit is not None and result.prompt_tokens == result.fit.prompt_tokens < needed
    assert result.completion_tokens >= 1
    assert engine.adapter.policy.is_native  # the engine's own policy is not changed for later batches
