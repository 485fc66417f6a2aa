"""`vlm models`: supported families and runnable models found in a (temporary) hub cache."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vlmcli.testing.fakes import isolate_env
from vlmcli.cli import app
from vlmcli.families import FAMILIES
from vlmcli.hubcache import scan

runner = CliRunner()


def add_repo(cache, repo_id: str, model_type: str | None, weights: str = "model.safetensors", commit: str = "abc123"):
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    blob = repo / "blobs" / f"{commit}-weights"
    blob.parent.mkdir(exist_ok=True)
    blob.write_bytes(b"\0" * 2048)
    (snapshot / weights).symlink_to(blob)
    if model_type is not None:
        (snapshot / "config.json").write_text(json.dumps({"model_type": model_type}))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)


@pytest.fixture
def cache(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    root = tmp_path / "hub-cache"
    add_repo(root, "HuggingFaceTB/SmolVLM-256M-Instruct", "idefics3")
    add_repo(root, "Qwen/Qwen2-VL-2B-Instruct", "qwen2_vl", weights="pytorch_model.bin")
    add_repo(root, "google-bert/bert-base-uncased", "bert")
    add_repo(root, "org/broken", None)
    return root


def test_scan_reads_model_types_weights_and_sizes(cache):
    found = {m.repo_id: m for m in scan(cache)}
    assert set(found) == {"HuggingFaceTB/SmolVLM-256M-Instruct", "Qwen/Qwen2-VL-2B-Instruct", "google-bert/bert-base-uncased", "org/broken"}
    smol = found["HuggingFaceTB/SmolVLM-256M-Instruct"]
    assert (smol.family, smol.weights, smol.revision, smol.runnable) == ("idefics3", "safetensors", "abc123", True)
    assert smol.size_bytes >= 2048
    assert found["Qwen/Qwen2-VL-2B-Instruct"].weights == "pickle"
    assert found["google-bert/bert-base-uncased"].family is None
    assert found["org/broken"].model_type is None


def test_scan_of_missing_cache_is_empty(tmp_path):
    assert scan(tmp_path / "nowhere") == []


def test_models_text_lists_families_and_runnable_models(cache):
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    for info in FAMILIES:
        assert info.name in result.stdout
    assert "HuggingFaceTB/SmolVLM-256M-Instruct" in result.stdout and "Qwen/Qwen2-VL-2B-Instruct" in result.stdout
    assert "bert-base-uncased" not in result.stdout and str(cache) in result.stdout


def test_models_all_includes_unsupported(cache):
    result = runner.invoke(app, ["models", "--all"])
    assert "google-bert/bert-base-uncased" in result.stdout and "unsupported (bert)" in result.stdout


def test_models_json(cache):
    data = json.loads(runner.invoke(app, ["models", "--json"]).stdout)
    assert [f["family"] for f in data["families"]] == [f.name for f in FAMILIES]
    assert [m["model"] for m in data["cached"]] == ["HuggingFaceTB/SmolVLM-256M-Instruct", "Qwen/Qwen2-VL-2B-Instruct"]
    assert data["cache_dir"] == str(cache)


def test_models_with_empty_cache(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0 and "none yet" in result.stdout
