"""Wildcards the shell did not expand: `vlm describe "*.jpg"` quoted, and every pattern typed in
Windows' cmd.exe or PowerShell, which pass `*.jpg` to the program as it is.

Before: "No such file: *.jpg" (describe, ask) and "No such file or folder: *.jpg"
(caption-dir). Now such an argument is expanded as a POSIX shell would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.errors import ConfigError, InputError
from vlmcli.inputs.patterns import expand_patterns, is_pattern, single_match
from vlmcli.testing.fakes import install_fake_engine, isolate_env

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def photos(tmp_path, monkeypatch):
    folder = tmp_path / "photos"
    (folder / "day2").mkdir(parents=True)
    for name, colour in [("b.jpg", "blue"), ("a.jpg", "red"), ("day2/c.jpg", "green"), (".hidden.jpg", "gray"),
                         ("[draft].jpg", "white"), ("notes.txt", None)]:
        if colour is None:
            (folder / name).write_text("not a picture")
        else:
            Image.new("RGB", (32, 24), colour).save(folder / name)
    monkeypatch.chdir(folder)
    return folder


def test_patterns_expand_as_a_shell_would(photos):
    assert expand_patterns(["*.jpg"]) == ["[draft].jpg", "a.jpg", "b.jpg"]  # name order, no hidden files
    assert expand_patterns(["**/*.jpg"]) == ["[draft].jpg", "a.jpg", "b.jpg", "day2/c.jpg"]
    assert expand_patterns(["b.jpg", "?.jpg", "-"]) == ["b.jpg", "a.jpg", "b.jpg", "-"]
    assert expand_patterns(["[draft].jpg"]) == ["[draft].jpg"]  # a name that exists is a name
    assert not is_pattern("[draft].jpg") and is_pattern("*.png")
    assert expand_patterns(["*.png", "a.jpg"]) == ["*.png", "a.jpg"]  # matches nothing: left for the error
    assert expand_patterns(["day2"]) == ["day2"] and expand_patterns(["day*"]) == ["day*"]  # folders are no match


def test_a_one_input_command_takes_a_pattern_of_one_file(photos):
    assert single_match("day2/*.jpg", command="video-summarize") == "day2/c.jpg"
    with pytest.raises(InputError, match=r"No such file: \*\.png \(no file matches it as a pattern either\)"):
        single_match("*.png", command="video-summarize")
    assert single_match("a.jpg", command="video-summarize") == "a.jpg"
    with pytest.raises(ConfigError, match=r"\*\.jpg matches 3 files \(\[draft\]\.jpg, a\.jpg, b\.jpg\); video-summarize takes one"):
        single_match("*.jpg", command="video-summarize")


def test_describe_a_quoted_pattern(monkeypatch, photos):
    install_fake_engine(monkeypatch)
    result = runner.invoke(app, ["describe", "*.jpg", "--json"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["inputs"] for line in result.stdout.splitlines()] == [["[draft].jpg"], ["a.jpg"], ["b.jpg"]]


def test_a_pattern_that_matches_nothing_says_so(monkeypatch, photos):
    install_fake_engine(monkeypatch)
    result = runner.invoke(app, ["describe", "*.png", "a.jpg"])
    assert result.exit_code == 9
    assert "No such file: *.png (no file matches it as a pattern either)." in result.stderr
    caption = runner.invoke(app, ["caption-dir", "*.png", "-o", str(photos.parent / "out")])
    assert caption.exit_code != 0 and "No such file or folder: *.png (no file matches it as a pattern either)" in caption.stderr


def test_ask_about_every_match(monkeypatch, photos):
    install_fake_engine(monkeypatch)
    result = runner.invoke(app, ["ask", "[ab].jpg", "Which colours?", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["inputs"] == ["a.jpg", "b.jpg"]


def test_caption_dir_takes_a_recursive_pattern(monkeypatch, photos):
    install_fake_engine(monkeypatch)
    out = photos.parent / "out"
    result = runner.invoke(app, ["caption-dir", "**/*.jpg", "-o", str(out), "--format", "jsonl", "--json", "-q"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for shard in sorted(out.glob("*.jsonl")) for line in shard.read_text().splitlines()]
    assert sorted(Path(r["path"]).name for r in rows) == ["[draft].jpg", "a.jpg", "b.jpg", "c.jpg"]


def test_video_summarize_refuses_a_pattern_of_several(monkeypatch, photos):
    install_fake_engine(monkeypatch)
    result = runner.invoke(app, ["video-summarize", "*.jpg"])
    assert result.exit_code == 2 and "matches 3 files" in result.stderr and "\n" == result.stderr[-1]
