"""`vlm config` reports Python, platform and the dependency versions that decide what runs."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vlmcli import environment
from vlmcli.cli import app
from vlmcli.testing.fakes import isolate_env

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def _with(monkeypatch, versions: dict[str, str | None]) -> None:
    real = environment.installed
    monkeypatch.setattr(environment, "installed", lambda name: versions[name] if name in versions else real(name))


def test_this_environment_is_reported_without_complaints():
    rows = {p.name: p for p in environment.packages()}
    assert rows["transformers"].version and rows["transformers"].note == ""
    assert rows["torch"].version and rows["torchvision"].note == ""


def test_config_text_and_json_carry_the_environment():
    text = runner.invoke(app, ["config"])
    assert text.exit_code == 0, text.output
    assert "Environment: Python " in text.stdout and "\ntransformers " in text.stdout
    report = json.loads(runner.invoke(app, ["config", "--json"]).stdout)["environment"]
    assert set(report) == {"python", "platform", "packages"}
    assert report["packages"]["transformers"]["note"] == ""


@pytest.mark.parametrize(
    "versions, name, note",
    [
        ({"transformers": "5.23.0"}, "transformers", "unsupported: vlmcli needs transformers>=5.25,<6"),
        (
            {"torch": "2.13.0+cpu", "torchvision": None},
            "torchvision",
            "not installed: most families' processors need it; "
            "pip install torchvision==0.28.0 --index-url https://download.pytorch.org/whl/cpu",
        ),
        (
            {"torch": "2.13.0+cpu", "torchvision": "0.29.1"},
            "torchvision",
            "built for another torch (torch 2.13.0+cpu goes with torchvision 0.28.0); "
            "pip install torchvision==0.28.0 --index-url https://download.pytorch.org/whl/cpu",
        ),
        ({"decord": None}, "decord", "not installed: PyAV reads every video"),
        ({"ray": None}, "ray", "not installed: caption-dir --engine ray needs vlmcli[ray]"),
        ({"pillow-heif": None}, "pillow-heif", "not installed: HEIC photos (iPhones' format) need vlmcli[heif]"),
    ],
)
def test_what_a_missing_or_wrong_package_means(monkeypatch, versions, name, note):
    _with(monkeypatch, versions)
    rows = {p.name: p for p in environment.packages()}
    assert rows[name].note == note
    result = runner.invoke(app, ["config"])
    assert note in result.stdout
