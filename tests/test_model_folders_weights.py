"""Weights that are not the model's are refused in one line, not run as random weights.

A user test pointed `vlm ask` at folders written by conversion and fine-tuning tools: an
MLX conversion (tensors renamed) and a checkpoint saved without `lm_head.weight` answered
gibberish with exit 0 after transformers' ~70-line LOAD REPORT on stderr; embeddings resized
with `vocab_size` set back, and tokens added to the tokenizer alone, were "unexpected
RuntimeError/IndexError", exit 1."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.errors import ModelError
from vlmcli.testing.fakes import isolate_env, save_photo

runner = CliRunner()


@pytest.fixture
def photo(monkeypatch, tmp_path) -> Path:
    isolate_env(monkeypatch, tmp_path)
    return save_photo(tmp_path / "cat.png")


def rewrite_weights(src: Path, dst: Path, change, metadata: dict | None = None) -> Path:
    """A copy of `src` whose model.safetensors holds `change(tensors)`."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dst)
    tensors = load_file(dst / "model.safetensors")
    save_file(change(tensors), dst / "model.safetensors", metadata=metadata or {"format": "pt"})
    return dst


def ask(folder: Path, photo: Path, *extra: str):
    return runner.invoke(app, ["ask", "-m", str(folder), "--device", "cpu", "--max-tokens", "2", *extra, str(photo), "What is this?"])


def error_line(result, code: int = ModelError.exit_code) -> str:
    """The run failed with `code` and said why in exactly one stderr line."""
    assert result.exit_code == code, result.output
    assert "LOAD REPORT" not in result.stderr and "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def mlx_names(tensors: dict) -> dict:
    def rename(key: str) -> str:
        if key.startswith("visual."):
            return "vision_tower." + key.removeprefix("visual.")
        if key.startswith("model."):
            return "language_model.model." + key.removeprefix("model.")
        return key

    return {rename(k): v for k, v in tensors.items()}


def test_an_mlx_conversion_is_refused_naming_it(tiny_checkpoint, tmp_path, photo):
    folder = rewrite_weights(tiny_checkpoint("qwen2_5_vl"), tmp_path / "mlx", mlx_names, metadata={"format": "mlx"})
    line = error_line(ask(folder, photo))
    assert "weights do not match its config.json: 56 weights of the model's are not in the files" in line
    assert "56 weights in the files are not the model's (language_model.model.embed_tokens.weight" in line
    assert "so it would run on random weights" in line
    assert "format 'mlx': an MLX conversion (mlx-vlm)" in line and "pass the Hugging Face model" in line


def test_renamed_weights_without_mlx_metadata_are_refused_too(tiny_checkpoint, tmp_path, photo):
    folder = rewrite_weights(tiny_checkpoint("qwen2_5_vl"), tmp_path / "renamed", mlx_names)
    line = error_line(ask(folder, photo))
    assert "56 weights of the model's are not in the files" in line and "mlx" not in line
    assert "renamed by the tool that wrote them" in line


def test_a_checkpoint_without_its_lm_head_is_refused(tiny_checkpoint, tmp_path, photo):
    source = tiny_checkpoint("qwen2_5_vl")
    assert json.loads((source / "config.json").read_text())["tie_word_embeddings"] is False
    folder = rewrite_weights(source, tmp_path / "nohead", lambda t: {k: v for k, v in t.items() if k != "lm_head.weight"})
    line = error_line(ask(folder, photo))
    assert "1 weight of the model's is not in the files (lm_head.weight)" in line
    assert "saved without its output layer" in line and "tie_word_embeddings" in line


def test_a_tied_family_saved_without_lm_head_loads(tiny_checkpoint):
    """Gemma 3 ties its output layer to the embeddings: no lm_head.weight is the normal case."""
    from safetensors import safe_open

    from vlmcli.engine import Engine, EngineConfig

    folder = tiny_checkpoint("gemma3")
    with safe_open(str(folder / "model.safetensors"), "pt") as weights:
        assert not any("lm_head" in name for name in weights.keys())
    Engine.load(EngineConfig(model=str(folder), device="cpu", dtype="float32"))


def test_resized_embeddings_with_vocab_size_set_back(tiny_checkpoint, tmp_path, photo):
    from transformers import AutoModelForImageTextToText

    folder = tmp_path / "resized"
    shutil.copytree(tiny_checkpoint("qwen2_5_vl"), folder)
    model = AutoModelForImageTextToText.from_pretrained(folder)
    model.resize_token_embeddings(600, mean_resizing=False)
    model.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config["text_config"]["vocab_size"] = 576  # set back by hand, as a user did
    (folder / "config.json").write_text(json.dumps(config))
    line = error_line(ask(folder, photo))
    assert "embeddings (model.language_model.embed_tokens.weight) have 600 rows but config.json's vocab_size makes 576" in line
    assert "set vocab_size to 600" in line


def test_tokens_added_to_the_tokenizer_only(tiny_checkpoint, tmp_path, photo):
    """The tokenizer names ids past the embedding table: refused at load, before any prompt."""
    from transformers import AutoTokenizer

    folder = tmp_path / "added"
    shutil.copytree(tiny_checkpoint("qwen2_5_vl"), folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    rows, before = 576, len(tokenizer)
    tokenizer.add_tokens([f"<tool_{i}>" for i in range(rows - before + 2)])
    tokenizer.save_pretrained(folder)
    line = error_line(ask(folder, photo))
    assert f"tokenizer has {rows + 2} tokens but its embeddings have {rows} rows" in line
    assert f"('<tool_{rows - before}>', '<tool_{rows - before + 1}>')" in line  # the ids without a row
    assert "resize_token_embeddings(len(tokenizer))" in line


def test_the_unchanged_checkpoint_answers_quietly(tiny_checkpoint, photo):
    result = ask(tiny_checkpoint("qwen2_5_vl"), photo)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
