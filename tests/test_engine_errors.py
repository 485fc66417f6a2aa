"""Each loading failure is a library error with one readable sentence."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.errors import (
    ContextLengthError,
    ModelError,
    ModelNotFoundError,
    ResourceError,
    UnsafeModelError,
    UnsupportedModelError,
)
from vlmcli.testing import sample_photos


def load(model, **kwargs):
    return Engine.load(EngineConfig(model=str(model), device="cpu", dtype="float32", **kwargs))


def one_line(err: Exception) -> str:
    """The message, checked to be one sentence-like line; its length is counted without the
    paths in it (a temp folder's name is as long as the machine makes it)."""
    text = str(err)
    assert "\n" not in text and text.endswith((".", ")")) and len(re.sub(r"/\S+", "<path>", text)) < 400
    return text


def test_missing_folder(tmp_path):
    with pytest.raises(ModelNotFoundError) as err:
        load(tmp_path / "nope")
    assert "does not exist" in one_line(err.value)


def test_hub_id_offline_not_cached(tmp_path):
    with pytest.raises(ModelNotFoundError) as err:
        load("vlmcli-test/not-cached", offline=True, cache_dir=tmp_path)
    assert "not in the local hub cache" in one_line(err.value)


def test_hub_id_offline_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as err:
        load("vlmcli-test/not-cached", cache_dir=tmp_path)
    assert "offline" in one_line(err.value)


def test_loads_a_hub_id_from_the_hub_cache(tiny_checkpoint, tmp_path):
    """A hub id resolves through the standard cache layout (models--org--name/snapshots/<rev>)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--vlmcli-test--tiny-llava"
    shutil.copytree(tiny_checkpoint("llava"), repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    engine = load("vlmcli-test/tiny-llava", offline=True, cache_dir=tmp_path)
    assert engine.revision == commit
    image = ImageInput(sample_photos()[0])
    result = engine.generate([Request(prompt="Hi", images=(image,))], GenerationConfig(max_tokens=2))[0]
    assert result.completion_tokens >= 1


def test_folder_without_config(tmp_path):
    with pytest.raises(ModelError) as err:
        load(tmp_path)
    assert "config.json" in one_line(err.value)


def test_a_training_output_folder_names_its_checkpoints(tiny_checkpoint, tmp_path):
    """A Trainer's output_dir (checkpoint-500/, checkpoint-1000/ inside) passed as -m."""
    for step in (500, 1000, 1500, 2000):
        shutil.copytree(tiny_checkpoint("smolvlm"), tmp_path / "run" / f"checkpoint-{step}")
    (tmp_path / "run" / "runs").mkdir()  # tensorboard logs: no model
    with pytest.raises(ModelError) as err:
        load(tmp_path / "run")
    message = one_line(err.value)
    assert "it holds model folders (checkpoint-1000, checkpoint-1500, checkpoint-2000, ...)" in message
    assert message.endswith(f"pass one, e.g. {tmp_path / 'run' / 'checkpoint-2000'}.")


def copy_with_config(src, dst, **changes):
    shutil.copytree(src, dst)
    config = json.loads((dst / "config.json").read_text())
    config.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        config.pop(key)
    (dst / "config.json").write_text(json.dumps(config))
    return dst


def test_text_only_model_is_not_a_vlm(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2", "hidden_size": 8}))
    with pytest.raises(ModelError) as err:
        load(tmp_path)
    assert "not a vision-language model" in one_line(err.value)


def test_unsupported_family_lists_supported(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "blip-2", "vision_config": {}}))
    with pytest.raises(UnsupportedModelError) as err:
        load(tmp_path)
    message = one_line(err.value)
    assert "blip-2" in message and "qwen2_vl" in message and "llava" in message


def test_remote_code_refused_by_default(tiny_checkpoint, tmp_path):
    folder = copy_with_config(tiny_checkpoint("llava"), tmp_path / "m", auto_map={"AutoModel": "x.Y"})
    with pytest.raises(UnsafeModelError) as err:
        load(folder)
    assert "--trust-remote-code" in one_line(err.value)


def test_pickled_weights_refused_by_default(tiny_checkpoint, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(tiny_checkpoint("llava"), folder)
    for weights in folder.glob("*.safetensors"):
        weights.rename(weights.with_name("pytorch_model.bin"))
    with pytest.raises(UnsafeModelError) as err:
        load(folder)
    assert "--allow-pickle" in one_line(err.value)


def test_out_of_memory_becomes_a_resource_error_with_a_hint(tiny_checkpoint, monkeypatch):
    import torch

    engine = load(tiny_checkpoint("llava"))

    def explode(images):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(engine.adapter, "encode", explode)
    request = Request(prompt="Hi", images=(ImageInput(sample_photos()[0]),))
    with pytest.raises(ResourceError) as err:
        engine.generate([request], GenerationConfig(max_tokens=2))
    assert "--max-pixels" in one_line(err.value)


def test_prompt_longer_than_context(tiny_checkpoint, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(tiny_checkpoint("llava"), folder)
    config = json.loads((folder / "config.json").read_text())
    config["text_config"]["max_position_embeddings"] = 16
    (folder / "config.json").write_text(json.dumps(config))
    engine = load(folder)
    request = Request(prompt="Describe this photo in detail.", images=(ImageInput(sample_photos()[0]),))
    with pytest.raises(ContextLengthError) as err:
        engine.generate([request], GenerationConfig(max_tokens=2))
    message = one_line(err.value)
    assert "16" in message and "--max-pixels" in message
