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
    VlmError,
)
from vlmcli.testing import sample_photos
from vlmcli.testing.hub_cache import COMMIT, put_in_hub_cache


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
    put_in_hub_cache(tmp_path, "vlmcli-test/tiny-llava", tiny_checkpoint("llava"))
    engine = load("vlmcli-test/tiny-llava", offline=True, cache_dir=tmp_path)
    assert engine.revision == COMMIT
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
    assert "16" in message and "use fewer images" in message
    assert "--max-pixels" not in message  # LLaVA 1.5's one fixed view: a lower cap cannot help (fit_advice)


def test_model_arguments_people_paste(tmp_path, tiny_checkpoint):
    """A model page's address, a hub cache entry's folder, a config.json that is not an object
    or names no model_type: each was misleading ("Model folder https://... does not exist",
    "a '' model") or exit 1 ("unexpected AttributeError")."""
    assert one_line(_error(lambda: load("https://huggingface.co/acme/tiny/tree/main"))).endswith(
        "is a web address; name the model by its hub id: --model acme/tiny."
    )
    entry = tmp_path / "hub" / "models--acme--tiny"
    (entry / "snapshots").mkdir(parents=True)
    assert one_line(_error(lambda: load(str(entry)))).endswith(
        f"it is a hub cache entry: pass its id, --model acme/tiny (with HF_HUB_CACHE={tmp_path / 'hub'})."
    )
    listed = copy_with_config(tiny_checkpoint("idefics3"), tmp_path / "listed")
    (listed / "config.json").write_text("[]")
    assert "is not a model config (a JSON object); it holds a list." in one_line(_error(lambda: load(str(listed))))
    untyped = copy_with_config(tiny_checkpoint("idefics3"), tmp_path / "untyped", model_type=None)
    assert "config.json names no model_type, so its family is unknown" in one_line(_error(lambda: load(str(untyped))))


def _error(call) -> Exception:
    with pytest.raises(VlmError) as info:
        call()
    return info.value


def test_processor_files_missing_or_cut_short_are_named(tmp_path, tiny_checkpoint):
    """transformers' own text leaked ("If you were trying to load it from
    'https://huggingface.co/models' ..."), was cut at its first line ("Couldn't instantiate the
    backend tokenizer from one of:"), or named no file ("Unterminated string ...")."""
    source = tiny_checkpoint("idefics3")
    no_processor = copy_with_config(source, tmp_path / "no-processor")
    (no_processor / "processor_config.json").unlink()
    assert one_line(_error(lambda: load(no_processor))).endswith(
        "has no image processor config (processor_config.json or preprocessor_config.json); save the base model's "
        "processor into it: AutoProcessor.from_pretrained(BASE).save_pretrained(FOLDER)."
    )
    no_tokenizer = copy_with_config(source, tmp_path / "no-tokenizer")
    (no_tokenizer / "tokenizer.json").unlink()
    (no_tokenizer / "tokenizer_config.json").unlink()
    assert "has no tokenizer files (tokenizer.json, or its vocabulary files)" in one_line(_error(lambda: load(no_tokenizer)))
    cut = copy_with_config(source, tmp_path / "cut")
    (cut / "tokenizer.json").write_text((source / "tokenizer.json").read_text()[:200])
    assert "tokenizer.json is not valid JSON (" in one_line(_error(lambda: load(cut)))


def test_a_cached_model_without_the_asked_revision_says_so(tiny_checkpoint, tmp_path):
    """Offline, `--revision v2` of a cached model said the model was not in the cache at all."""
    put_in_hub_cache(tmp_path, "vlmcli-test/tiny", tiny_checkpoint("idefics3"))
    line = one_line(_error(lambda: load("vlmcli-test/tiny", offline=True, cache_dir=tmp_path, revision="v2")))
    assert line == (
        "Model vlmcli-test/tiny is in the local hub cache, but not its revision 'v2' (cached: main, 0123456789ab); "
        "offline mode is on."
    )


def test_a_folder_of_gguf_files_says_what_they_are(tmp_path):
    (tmp_path / "smolvlm-Q8_0.gguf").write_bytes(b"GGUF\x03\x00\x00\x00" + bytes(32))
    (tmp_path / "mmproj-smolvlm-f16.gguf").write_bytes(b"GGUF\x03\x00\x00\x00" + bytes(32))
    line = one_line(_error(lambda: load(tmp_path)))
    assert "holds GGUF files (mmproj-smolvlm-f16.gguf, ...: llama.cpp's format) and no config.json" in line


@pytest.mark.parametrize(
    "failure",
    [
        RuntimeError("unable to mmap 4418050848 bytes from file <model.safetensors>: Cannot allocate memory (12)"),
        MemoryError(),
        RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 bytes."),
    ],
)
def test_a_load_that_runs_out_of_memory_is_a_resource_error(tiny_checkpoint, monkeypatch, failure):
    """A walk under `prlimit --as` found the weights' mmap failing as a RuntimeError: exit 1,
    "unexpected RuntimeError", where a MemoryError was exit 6. Every spelling is exit 6 now,
    with the advice for a load (float32 on CPU: --dtype bfloat16 halves it)."""
    import transformers

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", fail)
    with pytest.raises(ResourceError) as err:
        load(tiny_checkpoint("llava"))
    assert err.value.exit_code == 6
    assert one_line(err.value).startswith("Out of memory loading ") and "--dtype bfloat16" in one_line(err.value)


def test_cpu_allocator_and_mmap_failures_are_out_of_memory():
    from vlmcli.memory_errors import is_out_of_memory

    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 bytes"))
    assert is_out_of_memory(RuntimeError("unable to mmap 44 bytes from file <x>: Cannot allocate memory (12)"))
    assert not is_out_of_memory(RuntimeError("unable to mmap 44 bytes from file <x>: Permission denied (13)"))
