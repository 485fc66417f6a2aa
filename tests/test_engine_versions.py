"""The loader refuses a transformers it cannot run on, in one line, before loading anything."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.engine import versions
from vlmcli.engine.versions import MIN_TRANSFORMERS, check_transformers, parse_version
from vlmcli.errors import BackendUnavailableError
from vlmcli.testing.fakes import isolate_env

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "text, want", [("5.25.0", (5, 25)), ("5.26.0.dev0", (5, 26)), ("5.25.0+cpu", (5, 25)), ("6.1", (6, 1))]
)
def test_parse_version(text, want):
    assert parse_version(text) == want


@pytest.mark.parametrize("installed", ["5.25.0", "5.25.1", "5.30.0.dev0"])
def test_supported_versions_pass(installed):
    assert check_transformers(installed) == installed


@pytest.mark.parametrize("installed", ["5.23.0", "5.24.0", "4.57.1", "6.0.0"])
def test_other_versions_are_refused_with_the_fix(installed):
    with pytest.raises(BackendUnavailableError, match=r"found .*pip install 'transformers>=5\.25,<6'"):
        check_transformers(installed)


def test_the_installed_transformers_passes():
    check_transformers()


def test_pyproject_declares_the_same_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (spec,) = [d for d in project["dependencies"] if d.startswith("transformers")]
    low = spec.split(">=")[1].split(",")[0]
    assert parse_version(low) == MIN_TRANSFORMERS
    assert spec.endswith(",<6")


def test_cli_says_it_in_one_line_with_exit_7(monkeypatch, tmp_path, tiny_checkpoint):
    isolate_env(monkeypatch, tmp_path)
    fake = SimpleNamespace(version=lambda name: "5.23.0", PackageNotFoundError=LookupError)
    monkeypatch.setattr(versions, "metadata", fake)
    photo = tmp_path / "p.png"
    from PIL import Image

    Image.new("RGB", (64, 48), "red").save(photo)
    result = CliRunner().invoke(app, ["ask", "--model", str(tiny_checkpoint("qwen2_vl")), str(photo), "What?"])
    assert result.exit_code == BackendUnavailableError.exit_code == 7
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == ["Error: vlmcli needs transformers >= 5.25 and < 6 (found 5.23.0): pip install 'transformers>=5.25,<6'."]


@pytest.mark.parametrize(
    "torch_version, vision, fix",
    [
        ("2.13.0+cpu", "0.28.0", "pip install torchvision==0.28.0 --index-url https://download.pytorch.org/whl/cpu"),
        ("2.14.1+cu130", "0.29.1", "pip install torchvision==0.29.1 --index-url https://download.pytorch.org/whl/cu130"),
        ("2.14.1", "0.29.1", "pip install torchvision==0.29.1"),
        ("3.0.0", None, "install the torchvision release built for torch 3.0.0"),
    ],
)
def test_the_torchvision_built_for_a_torch(torch_version, vision, fix):
    assert versions.matching_torchvision(torch_version) == vision
    assert versions.torchvision_fix(torch_version) == fix


def test_a_processor_that_needs_a_missing_torchvision_says_which_to_install(monkeypatch, tmp_path):
    import transformers

    from vlmcli.engine.config import EngineConfig
    from vlmcli.engine.loader import load_processor

    def needs_torchvision(*args, **kwargs):
        raise ImportError(
            "\nQwen3VLVideoProcessor requires the Torchvision library but it was not found in your environment. Check ..."
        )

    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", needs_torchvision)
    with pytest.raises(BackendUnavailableError) as caught:
        load_processor(tmp_path, EngineConfig(model="some/model"))
    message = str(caught.value)
    assert message.startswith("some/model: its processor needs torchvision, which is not installed (Qwen3VLVideoProcessor")
    assert "pip install torchvision==" in message and "\n" not in message


def test_a_torchvision_built_for_another_torch_is_named(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "torchvision" else real_find_spec(name, *a))
    monkeypatch.setitem(sys.modules, "torchvision", None)  # `import torchvision` now fails, as a mismatched build does
    message = versions.torchvision_broken("2.13.0+cpu")
    assert message is not None and message.startswith("torchvision ")
    assert "does not work with torch 2.13.0+cpu" in message
    assert message.endswith("pip install torchvision==0.28.0 --index-url https://download.pytorch.org/whl/cpu.")


def test_a_working_torchvision_is_not_reported():
    import torch

    assert versions.torchvision_broken(torch.__version__) is None
