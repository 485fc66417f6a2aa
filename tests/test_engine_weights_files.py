"""A truncated or missing weights shard (an interrupted download or copy) is named in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.engine.source import ModelSource
from vlmcli.engine.weights_files import needed_bytes, truncated, weights_failure
from vlmcli.errors import ModelError
from vlmcli.testing.fakes import isolate_env, save_photo


@pytest.fixture(scope="module")
def sharded(tiny_checkpoint, tmp_path_factory) -> Path:
    """A tiny Qwen2-VL saved in several safetensors shards, as hub models of a few GB are."""
    from transformers import AutoModelForImageTextToText

    source = tiny_checkpoint("qwen2_vl")
    out = tmp_path_factory.mktemp("sharded") / "model"
    shutil.copytree(source, out)
    for weights in out.glob("*.safetensors"):
        weights.unlink()
    AutoModelForImageTextToText.from_pretrained(source).save_pretrained(out, max_shard_size="200KB")
    assert len(list(out.glob("*.safetensors"))) > 2
    return out


def _copy(sharded: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(sharded, folder)
    return folder


def test_whole_shards_need_exactly_their_size(sharded):
    for shard in sharded.glob("*.safetensors"):
        assert needed_bytes(shard) == shard.stat().st_size
    assert truncated(sharded) == []


def test_cli_names_the_truncated_shard(sharded, tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    folder = _copy(sharded, tmp_path)
    shard = sorted(folder.glob("*.safetensors"))[1]
    whole = shard.stat().st_size
    with open(shard, "r+b") as handle:
        handle.truncate(whole // 3)
    photo = save_photo(tmp_path / "p.jpg")
    result = CliRunner().invoke(app, ["ask", "--model", str(folder), str(photo), "What?", "--max-tokens", "2"])
    assert result.exit_code == ModelError.exit_code, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert f"a weights file is truncated: {shard.name} ({whole // 3:,} of {whole:,} bytes)" in lines[0]
    assert lines[0].endswith("copy or download the folder again.")


def test_a_missing_shard_and_a_hub_model_say_how_to_download_again(tmp_path):
    source = ModelSource(folder=tmp_path, model_id="org/model", revision="0123abc")
    gone = FileNotFoundError(f"No such file or directory: {tmp_path}/model-00002-of-00003.safetensors")
    message = weights_failure(source, gone)
    assert "a weights file is missing (No such file or directory" in message
    assert message.endswith("(`hf download org/model --force-download`).")


def test_other_failures_are_passed_on_as_they_are(tmp_path):
    source = ModelSource(folder=tmp_path, model_id="m", revision=None)
    assert weights_failure(source, ValueError("bad config\nmore")) == "m could not be loaded: bad config"


@pytest.mark.parametrize(
    "name, data, says",
    [
        ("model.gguf", b"GGUF\x03\x00\x00\x00" + bytes(64), "is a GGUF file (llama.cpp's format)"),
        ("renamed.bin", b"GGUF" + bytes(8), "is a GGUF file"),
        ("model.safetensors", bytes(16), "is a file of a model; pass the folder that holds it ("),
        ("notes.txt", b"hello", "is a file, not a model folder or hub id."),
    ],
)
def test_a_file_given_as_the_model_says_what_to_pass(tmp_path, name, data, says):
    from vlmcli.engine.source import resolve_source

    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ModelError) as caught:
        resolve_source(str(path), revision=None, offline=True, cache_dir=None, allow_pickle=False)
    assert says in str(caught.value)


def test_a_folder_without_processor_files_is_refused_before_loading(tiny_checkpoint, tmp_path, monkeypatch):
    """`model.save_pretrained(folder)` alone writes config and weights, no tokenizer or processor."""
    import vlmcli.engine.loader as loader

    isolate_env(monkeypatch, tmp_path)
    folder = tmp_path / "finetuned"
    shutil.copytree(tiny_checkpoint("qwen2_vl"), folder)
    for path in folder.iterdir():
        if path.name not in ("config.json", "generation_config.json", "model.safetensors"):
            path.unlink()
    monkeypatch.setattr(loader, "load_processor", lambda *a: pytest.fail("the processor was still loaded"))
    photo = save_photo(tmp_path / "p.jpg")
    result = CliRunner().invoke(app, ["ask", "--model", str(folder), str(photo), "What?"])
    assert result.exit_code == ModelError.exit_code, result.output
    assert "has weights but no processor or tokenizer files" in result.output
    assert "AutoProcessor.from_pretrained(BASE).save_pretrained(FOLDER)" in result.output


def test_a_lora_adapter_folder_says_it_is_one_and_how_to_merge(tmp_path):
    from vlmcli.engine.source import read_model_config

    (tmp_path / "adapter_config.json").write_text('{"base_model_name_or_path": "HuggingFaceTB/SmolVLM2-256M-Video-Instruct", "r": 8}')
    (tmp_path / "adapter_model.safetensors").write_bytes(bytes(16))
    with pytest.raises(ModelError) as caught:
        read_model_config(tmp_path)
    message = str(caught.value)
    assert "is a PEFT/LoRA adapter (adapter_config.json, base model HuggingFaceTB/SmolVLM2-256M-Video-Instruct)" in message
    assert "merge_and_unload()" in message


def test_a_dangling_blob_link_and_random_bytes_are_named(tiny_checkpoint, tmp_path, monkeypatch):
    """A hub snapshot whose blob is gone said "Error: ... could not be loaded: Error no file named
    model.safetensors found"; random bytes were "truncated" (or "unexpected OverflowError")."""
    isolate_env(monkeypatch, tmp_path)
    photo = save_photo(tmp_path / "p.jpg")
    linked = tmp_path / "linked"
    shutil.copytree(tiny_checkpoint("idefics3"), linked)
    (linked / "model.safetensors").unlink()
    (linked / "model.safetensors").symlink_to("../../blobs/0123abcd")
    result = CliRunner().invoke(app, ["ask", "--model", str(linked), str(photo), "What?"])
    assert result.exit_code == ModelError.exit_code, result.output
    assert "a weights file is missing: model.safetensors link to a hub cache blob that is gone" in result.stderr
    noise = tmp_path / "noise"
    shutil.copytree(tiny_checkpoint("idefics3"), noise)
    (noise / "model.safetensors").write_bytes(bytes(range(256)) * 20)
    result = CliRunner().invoke(app, ["ask", "--model", str(noise), str(photo), "What?"])
    assert result.exit_code == ModelError.exit_code, result.output
    assert "a weights file is damaged: model.safetensors (no readable header, 5,120 bytes), not a safetensors file" in result.stderr
