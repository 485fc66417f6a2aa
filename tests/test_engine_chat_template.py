"""A model folder's chat template: missing or cut short is one line, exit 4, before the
weights load; one kept only in tokenizer_config.json (older transformers) is used."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.testing.fakes import isolate_env, save_photo

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def photo(tmp_path):
    return save_photo(tmp_path / "cat.jpg", "chelsea")


def copy(tiny_checkpoint, tmp_path, name):
    folder = tmp_path / name
    shutil.copytree(tiny_checkpoint("idefics3"), folder)
    return folder


def test_a_folder_without_a_chat_template_is_refused_before_loading(tiny_checkpoint, tmp_path, photo):
    folder = copy(tiny_checkpoint, tmp_path, "no-template")
    (folder / "chat_template.jinja").unlink()
    for args in (["ask", str(photo), "hi"], ["ask", str(photo), "hi", "--dry-run"], ["caption-dir", str(tmp_path), "-o", str(tmp_path / "o")]):
        result = runner.invoke(app, [*args, "-m", str(folder)])
        assert result.exit_code == 4, result.output
        assert result.stderr.startswith(f"Error: {folder} has no chat template (a chat_template.jinja file")
    assert not (tmp_path / "o").exists()


def test_a_template_cut_short_names_the_file(tiny_checkpoint, tmp_path, photo):
    folder = copy(tiny_checkpoint, tmp_path, "cut")
    text = (folder / "chat_template.jinja").read_text()
    (folder / "chat_template.jinja").write_text(text[: len(text) // 3])
    result = runner.invoke(app, ["ask", str(photo), "hi", "-m", str(folder)])
    assert result.exit_code == 4, result.output
    assert "its chat template chat_template.jinja does not parse (line" in result.stderr


def test_a_template_in_tokenizer_config_only_is_used(tiny_checkpoint, tmp_path, photo):
    folder = copy(tiny_checkpoint, tmp_path, "old-layout")
    template = (folder / "chat_template.jinja").read_text()
    (folder / "chat_template.jinja").unlink()
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps(config | {"chat_template": template}))
    result = runner.invoke(app, ["ask", str(photo), "hi", "-m", str(folder), "--max-tokens", "2", "--json"])
    assert result.exit_code == 0, result.output
    reference = runner.invoke(app, ["ask", str(photo), "hi", "-m", str(tiny_checkpoint("idefics3")), "--max-tokens", "2", "--json"])
    assert json.loads(result.stdout)["prompt_tokens"] == json.loads(reference.stdout)["prompt_tokens"]
