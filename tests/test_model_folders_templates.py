"""Chat templates and config.json fields that passed the early checks but failed later.

A text-only chat template (the language model's, copied over the VLM's) was "unexpected
ValueError: ... Found total 0" per input; a list of named templates in tokenizer_config.json
passed the early check but was "Cannot use apply_chat_template", exit 1. An `auto_map` in a
supported family's config was refused with a message saying vlmcli loads the built-in
classes instead; a custom-code VLM (phi3_v) was "not a vision-language model"."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.engine import Engine, EngineConfig
from vlmcli.errors import ModelError, UnsafeModelError, UnsupportedModelError
from vlmcli.testing.fakes import isolate_env, save_photo

runner = CliRunner()
TEXT_ONLY = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture
def photo(monkeypatch, tmp_path) -> Path:
    isolate_env(monkeypatch, tmp_path)
    return save_photo(tmp_path / "cat.png")


def ask(folder: Path, photo: Path, *extra: str):
    return runner.invoke(app, ["ask", "-m", str(folder), "--device", "cpu", "--max-tokens", "2", *extra, str(photo), "What?"])


def error_line(result, code: int = ModelError.exit_code) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unexpected" not in lines[0], result.output
    return lines[0]


def copy(src: Path, dst: Path, **config_changes) -> Path:
    shutil.copytree(src, dst)
    if config_changes:
        config = json.loads((dst / "config.json").read_text())
        config.update(config_changes)
        (dst / "config.json").write_text(json.dumps(config))
    return dst


def test_a_text_only_template_is_named(tiny_checkpoint, tmp_path, photo):
    folder = copy(tiny_checkpoint("qwen2_5_vl"), tmp_path / "text-template")
    (folder / "chat_template.jinja").write_text(TEXT_ONLY)
    for extra in ([], ["--dry-run"]):
        line = error_line(ask(folder, photo, *extra))
        assert "its chat template places no image (a message with a picture renders without <|image_pad|>)" in line
        assert "it is a text-only template" in line


def test_a_template_that_fails_on_a_picture_is_named(tiny_checkpoint, tmp_path, photo):
    folder = copy(tiny_checkpoint("qwen2_5_vl"), tmp_path / "strict-template")
    (folder / "chat_template.jinja").write_text("{{ messages[0]['content'] | trim }}{{ raise_exception('text only') }}")
    line = error_line(ask(folder, photo))
    assert "its chat template fails on a message with a picture (" in line


def test_a_list_of_named_templates_gives_its_default(tiny_checkpoint, tmp_path, photo):
    folder = copy(tiny_checkpoint("qwen2_5_vl"), tmp_path / "named")
    template = (folder / "chat_template.jinja").read_text()
    (folder / "chat_template.jinja").unlink()
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    tokenizer_config["chat_template"] = [{"name": "tool_use", "template": TEXT_ONLY}, {"name": "default", "template": template}]
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    result = ask(folder, photo)
    assert result.exit_code == 0, result.output


def test_auto_map_in_a_supported_family_says_what_the_flag_does(tiny_checkpoint, tmp_path):
    folder = copy(tiny_checkpoint("qwen2_5_vl"), tmp_path / "mapped", auto_map={
        "AutoConfig": "configuration_qwen.QwenConfig", "AutoModelForImageTextToText": "modeling_qwen.QwenVL",
    })
    with pytest.raises(UnsafeModelError) as caught:
        Engine.load(EngineConfig(model=str(folder), device="cpu"))
    message = str(caught.value)
    assert "ships its own Python code (auto_map: AutoConfig, AutoModelForImageTextToText)" in message
    assert "with it, transformers runs the repository's own AutoConfig, AutoModelForImageTextToText in place of its " \
           "built-in 'qwen2_5_vl' classes" in message
    assert "instead" not in message
    unused = copy(tiny_checkpoint("qwen2_5_vl"), tmp_path / "unused", auto_map={"AutoModel": "modeling_qwen.QwenVL"})
    with pytest.raises(UnsafeModelError) as caught:
        Engine.load(EngineConfig(model=str(unused), device="cpu"))
    assert "it names no class vlmcli loads, so with the flag vlmcli runs transformers' built-in 'qwen2_5_vl'" in str(caught.value)


@pytest.mark.parametrize("trust", [False, True])
def test_a_custom_code_vlm_is_named_as_one(tmp_path, trust):
    """Phi-3-vision: model_type phi3_v, its classes in auto_map, no vision_config."""
    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "phi3_v", "auto_map": {"AutoConfig": "configuration_phi3_v.Phi3VConfig"}, "embd_layer": {},
    }))
    with pytest.raises(UnsupportedModelError) as caught:
        Engine.load(EngineConfig(model=str(tmp_path), device="cpu", trust_remote_code=trust))
    message = str(caught.value)
    assert "is a custom-code model ('phi3_v'): its family exists only in the repository's own Python code" in message
    assert "not a vision-language model" not in message
    assert "with or without --trust-remote-code; supported families: idefics3" in message
