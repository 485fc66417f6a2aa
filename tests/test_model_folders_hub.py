"""Hub snapshots: what is downloaded, copied snapshots, short revisions, the cache folder given.

`snapshot_download`'s `*.safetensors` also matched files in subfolders (fnmatch's `*`
matches `/`), so a repo holding checkpoint-500/ downloaded every checkpoint, and a Mistral
repo's consolidated.safetensors doubled the download. A snapshot copied with `cp -r` (its
config.json a dangling link) had "no config.json"; `--revision 0123456789ab` was "not in the
cache" beside a cached 0123456789ab...; `vlm models --cache-dir ~/.cache/huggingface` said
no model was cached."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.engine.source import resolve_source
from vlmcli.errors import ModelError, ModelNotFoundError
from vlmcli.testing.fakes import isolate_env, save_photo
from vlmcli.testing.hub_cache import COMMIT, put_in_hub_cache

runner = CliRunner()

REPO_FILES = [
    "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
    "processor_config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors", "consolidated.safetensors", "params.json", "tekken.json", "README.md",
    "checkpoint-500/config.json", "checkpoint-500/model.safetensors", "checkpoint-500/optimizer.pt",
    "checkpoint-500/training_args.bin", "original/consolidated.00.pth", "onnx/model.onnx", "onnx/config.json",
    "training_args.bin", "pytorch_model.bin",
]


@pytest.fixture
def asked(monkeypatch):
    """The arguments `snapshot_download` gets (it is not called for real)."""
    import huggingface_hub

    calls = []

    def fake(repo_id, **kwargs):
        calls.append(kwargs)
        return "/nowhere/snapshots/" + COMMIT

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    return calls


def fetched(kwargs) -> set[str]:
    from huggingface_hub.utils import filter_repo_objects

    return set(filter_repo_objects(REPO_FILES, allow_patterns=kwargs["allow_patterns"], ignore_patterns=kwargs["ignore_patterns"]))


@pytest.mark.parametrize("allow_pickle", [False, True])
def test_only_the_top_level_model_files_are_downloaded(asked, tmp_path, allow_pickle):
    resolve_source("org/model", revision=None, offline=False, cache_dir=tmp_path, allow_pickle=allow_pickle)
    expected = {
        "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
        "processor_config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors", "params.json", "tekken.json",
    }
    assert fetched(asked[0]) == expected | ({"pytorch_model.bin"} if allow_pickle else set())


def test_a_snapshot_copied_with_cp_r_names_its_dangling_config(tiny_checkpoint, tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    folder = tmp_path / "copied"
    shutil.copytree(tiny_checkpoint("idefics3"), folder)
    for name in ("config.json", "model.safetensors"):
        (folder / name).unlink()
        (folder / name).symlink_to(f"../../blobs/{name}-0123abcd")
    result = runner.invoke(app, ["ask", "-m", str(folder), str(save_photo(tmp_path / "p.jpg")), "What?"])
    assert result.exit_code == ModelError.exit_code, result.output
    line = result.stderr.strip()
    assert "a file is missing: config.json, model.safetensors links to a hub cache blob that is gone" in line
    assert "has no config.json" not in line
    assert "a hub snapshot copied with `cp -r` keeps its links but not the files they point to: copy it with `cp -rL`" in line


def test_a_short_commit_of_a_cached_snapshot_is_accepted(tiny_checkpoint, tmp_path):
    put_in_hub_cache(tmp_path, "vlmcli-test/tiny", tiny_checkpoint("idefics3"))
    source = resolve_source("vlmcli-test/tiny", revision=COMMIT[:12], offline=True, cache_dir=tmp_path, allow_pickle=False)
    assert source.revision == COMMIT
    with pytest.raises(ModelNotFoundError) as caught:  # a prefix of no cached commit is still refused
        resolve_source("vlmcli-test/tiny", revision="fedcba987654", offline=True, cache_dir=tmp_path, allow_pickle=False)
    assert "not its revision 'fedcba987654' (cached: main, 0123456789ab)" in str(caught.value)


def test_models_with_the_hugging_face_home_points_at_its_hub(tiny_checkpoint, tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    home = tmp_path / "huggingface"
    put_in_hub_cache(home / "hub", "vlmcli-test/tiny", tiny_checkpoint("idefics3"))
    result = runner.invoke(app, ["models", "--cache-dir", str(home)])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (
        f"Error: --cache-dir {home} is the Hugging Face home (HF_HOME), not its hub cache; the models are in "
        f"{home / 'hub'}: pass --cache-dir {home / 'hub'}."
    )
    assert "vlmcli-test/tiny" in runner.invoke(app, ["models", "--cache-dir", str(home / "hub")]).stdout


def test_a_model_missing_from_the_hugging_face_home_points_at_its_hub(tiny_checkpoint, tmp_path):
    home = tmp_path / "huggingface"
    put_in_hub_cache(home / "hub", "vlmcli-test/tiny", tiny_checkpoint("idefics3"))
    with pytest.raises(ModelNotFoundError) as caught:
        resolve_source("vlmcli-test/tiny", revision=None, offline=True, cache_dir=home, allow_pickle=False)
    assert str(caught.value).endswith(f"its hub cache is {home / 'hub'}: pass --cache-dir {home / 'hub'}.)")
