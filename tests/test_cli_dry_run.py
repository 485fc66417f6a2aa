"""`--dry-run`: the plan from config + processor only, and the context-length error."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.commands import _runtime
from vlmcli.testing import sample_photos


@pytest.fixture()
def photos(tmp_path):
    paths = []
    for i in (1, 5):  # 600x400 and a 640x120 strip
        path = tmp_path / f"photo{i}.png"
        sample_photos()[i].save(path)
        paths.append(path)
    return paths


@pytest.fixture(autouse=True)
def no_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))

    def refuse(config):
        raise AssertionError("a dry run must not load weights")

    monkeypatch.setattr(_runtime, "load_engine", refuse)


@pytest.mark.parametrize("family", ["qwen2_vl", "idefics3", "llava_next"])
def test_ask_dry_run_json(family, tiny_checkpoint, photos):
    folder = str(tiny_checkpoint(family))
    args = ["ask", *map(str, photos), "Compare them.", "-m", folder, "--dry-run", "--json", "--max-tokens", "10"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert set(plan) == {
        "model", "inputs", "images", "videos", "visual_tokens", "prompt_tokens", "total_tokens", "context_length",
        "truncated",
    }
    assert plan["inputs"] == [str(p) for p in photos]  # as the real run's --json names them
    assert plan["visual_tokens"] == sum(im["visual_tokens"] for im in plan["images"])  # as the real run's --json says
    assert plan["truncated"] is None
    assert [im["path"] for im in plan["images"]] == [str(p) for p in photos]
    for im in plan["images"]:
        assert set(im) == {"path", "width", "height", "resized", "grid", "tiles", "visual_tokens"}
        assert im["visual_tokens"] > 0 and im["tiles"] >= 1
    assert plan["images"][0]["width"] == 600 and plan["images"][1]["height"] == 120
    assert plan["total_tokens"] == plan["prompt_tokens"] + 10
    assert plan["prompt_tokens"] > sum(im["visual_tokens"] for im in plan["images"])
    assert plan["context_length"] == 4096


def test_describe_dry_run_one_plan_per_image_and_policy_lowers_cost(tiny_checkpoint, photos):
    folder = str(tiny_checkpoint("qwen2_vl"))
    base = ["describe", *map(str, photos), "-m", folder, "--dry-run", "--json"]
    full = [json.loads(line) for line in CliRunner().invoke(app, base).stdout.splitlines()]
    small = [json.loads(line) for line in CliRunner().invoke(app, [*base, "--max-pixels", "5000"]).stdout.splitlines()]
    assert len(full) == len(small) == 2
    for a, b in zip(full, small):
        assert b["images"][0]["visual_tokens"] < a["images"][0]["visual_tokens"]
        w, h = b["images"][0]["resized"]
        assert w * h <= 5000


def test_dry_run_text_output(tiny_checkpoint, photos):
    result = CliRunner().invoke(app, ["ask", str(photos[0]), "q?", "-m", str(tiny_checkpoint("llava")), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "600x400" in result.stdout and "visual tokens" in result.stdout and "context" in result.stdout


def test_dry_run_context_length_error(tiny_checkpoint, photos, tmp_path):
    folder = tmp_path / "short"
    shutil.copytree(tiny_checkpoint("qwen2_vl"), folder)
    config = json.loads((folder / "config.json").read_text())
    config["text_config"]["max_position_embeddings"] = 32
    (folder / "config.json").write_text(json.dumps(config))
    result = CliRunner().invoke(app, ["ask", str(photos[0]), "q?", "-m", str(folder), "--dry-run", "--json"])
    assert result.exit_code == 5
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "32" in result.stderr and "--max-pixels" in result.stderr


def test_llava15_dry_run_uses_vlmcli_tiling(tiny_checkpoint, photos):
    args = ["ask", str(photos[0]), "q?", "-m", str(tiny_checkpoint("llava")), "--dry-run", "--json"]
    args += ["--min-pixels", str(4 * 56 * 56)]  # a floor tiles it; caps alone never raise the default view
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    image = json.loads(result.stdout)["images"][0]
    rows, cols = image["grid"]
    assert rows * cols >= 4 and image["tiles"] == rows * cols + 1  # crops + thumbnail
    assert image["resized"][0] * image["resized"][1] >= 4 * 56 * 56  # the content reaches the floor
    assert image["visual_tokens"] == image["tiles"] * 16  # 16 tokens per 56-px view
