"""Two small agreements: `vlm ask photo.jpg What is this` (unquoted) hints at quoting the
question; `vlm models` says about video what the README's family table says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo
from vlmcli.cli import app
from vlmcli.families import FAMILIES, VideoPath

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.mark.parametrize(
    ("words", "meant", "first_missing"),
    [
        (["What", "is", "this?"], "What is this?", "What"),
        (["Describe", "the", "scene."], "Describe the scene.", "Describe"),
        (["Why?"], None, None),  # quoted already (one word): asked, no hint needed
    ],
)
def test_unquoted_question_gets_a_hint(monkeypatch, tmp_path, words, meant, first_missing):
    fake = install_fake_engine(monkeypatch)
    monkeypatch.chdir(tmp_path)
    photo = save_photo(tmp_path / "photo.jpg").name
    result = runner.invoke(app, ["ask", photo, *words])
    if meant is None:
        assert result.exit_code == 0 and fake.requests[0].prompt == words[0]
        return
    assert result.exit_code == 3, result.output
    (line,) = result.stderr.splitlines()
    assert line == (
        f"Error: No such file: {first_missing}. If {meant!r} is the question, quote it: vlm ask photo.jpg '{meant}'"
    )
    assert fake.engines == []


def test_no_hint_for_a_missing_file_that_looks_like_one(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    photo = str(save_photo(tmp_path / "photo.jpg"))
    for missing in (str(tmp_path / "typo.jpg"), "holiday.png"):
        result = runner.invoke(app, ["ask", photo, missing, "What is this?"])
        assert result.exit_code == 3 and "quote" not in result.stderr
        assert result.stderr.splitlines() == [f"Error: No such file: {missing}"]


def test_existing_word_named_files_are_inputs(monkeypatch, tmp_path):
    """A file really named `What` is an input: no hint, it is used."""
    fake = install_fake_engine(monkeypatch)
    monkeypatch.chdir(tmp_path)
    save_photo(tmp_path / "What", format="PNG")
    result = runner.invoke(app, ["ask", "What", "is it?"])
    assert result.exit_code == 0, result.output
    assert [i.source for i in fake.requests[0].images] == ["What"]


def readme_video_column() -> dict[str, str]:
    """family table of README.md: first model type -> the "video" cell."""
    rows = {}
    lines = (ROOT / "README.md").read_text().split("## Supported families")[1].split("\n## ")[0].splitlines()
    table = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines if line.startswith("|")]
    video = table[0].index("video")
    for cells in table:
        if cells[1].startswith("`"):
            rows[cells[1].split("`")[1]] = cells[video]
    return rows


def test_models_says_what_the_readme_says_about_video(monkeypatch, tmp_path):
    readme = readme_video_column()
    data = json.loads(runner.invoke(app, ["models", "--json"]).stdout)
    shown = {f["model_types"][0]: f["video"] for f in data["families"]}
    assert shown == readme
    assert all(f["video"] in ("native", "frames as images") or f["video"].startswith("native (") for f in data["families"])
    assert {f["family"]: f["native_video"] for f in data["families"]} == {i.name: i.video is VideoPath.NATIVE for i in FAMILIES}
    text = runner.invoke(app, ["models"]).stdout
    for info in FAMILIES:
        (row,) = [line for line in text.splitlines() if line.split()[:1] == [info.name]]
        assert readme[info.model_types[0]] in row
    assert " no " not in text  # no family is said to take no video
