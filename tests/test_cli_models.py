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
    blob.write_bytes(b"\x02" + b"\0" * 7 + b"{}" + b"\0" * 2038)  # a safetensors header (no tensors), 2 KiB
    (snapshot / weights).symlink_to(blob)
    (snapshot / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
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


def test_snapshots_that_would_not_load_are_not_listed_as_runnable(cache):
    """`refs/main` naming a snapshot that is gone, a deleted blob, cut-short weights, no
    processor files: each was under "Cached models you can run", then failed with exit 4."""
    add_repo(cache, "acme/badref", "idefics3", commit="def456")
    (cache / "models--acme--badref" / "refs" / "main").write_text("0" * 40)
    add_repo(cache, "acme/noblob", "idefics3")
    next((cache / "models--acme--noblob" / "blobs").iterdir()).unlink()
    add_repo(cache, "acme/cut", "idefics3")
    blob = next((cache / "models--acme--cut" / "blobs").iterdir())
    blob.write_bytes(b"\x40" + b"\0" * 7 + b'{"w": {"dtype": "F32", "shape": [64], "data_offsets": [0, 256]}}')
    add_repo(cache, "acme/noproc", "idefics3")
    (cache / "models--acme--noproc" / "snapshots" / "abc123" / "tokenizer_config.json").unlink()
    add_repo(cache, "acme/notemplate", "idefics3")
    (cache / "models--acme--notemplate" / "snapshots" / "abc123" / "tokenizer_config.json").write_text("{}")
    found = {m.repo_id: m for m in scan(cache)}
    assert found["acme/badref"].problem.startswith("refs/main names snapshot 000000000000, which is not in the cache")
    assert found["acme/noblob"].problem == "blobs gone: model.safetensors"
    assert found["acme/cut"].problem.startswith("weights damaged: model.safetensors (")
    assert found["acme/noproc"].problem == "no processor or tokenizer files"
    assert found["acme/notemplate"].problem == "no chat template"
    assert found["HuggingFaceTB/SmolVLM-256M-Instruct"].problem is None
    listed = runner.invoke(app, ["models"]).stdout
    assert "acme/" not in listed and "(5 more of a supported family would not load: vlm models --all says why.)" in listed
    everything = runner.invoke(app, ["models", "--all"]).stdout
    assert "PROBLEM" in everything and "no chat template" in everything


def test_a_cache_dir_that_is_not_a_folder_is_refused(tmp_path):
    """A typo in --cache-dir read as "none yet" (exit 0)."""
    missing = runner.invoke(app, ["models", "--cache-dir", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and f"--cache-dir {tmp_path / 'nope'} does not exist" in missing.stderr
    afile = tmp_path / "cat.png"
    afile.write_bytes(b"x")
    assert "is not a folder" in runner.invoke(app, ["models", "--cache-dir", str(afile)]).stderr
