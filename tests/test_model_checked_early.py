"""A model that cannot load is refused before the inputs are read.

`caption-dir` hashes every file and `describe` decodes every picture before the model loads;
with a typo in `-m` over a million files the one-line error came after minutes of reading.
Now a local folder (missing, or not a model) and, offline, a hub id absent from the cache
are checked first, in milliseconds, without torch (`engine.loader.check_model`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.testing.fakes import isolate_env

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, colour in enumerate(("red", "blue")):
        Image.new("RGB", (16, 16), colour).save(folder / f"{i}.jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    return folder


@pytest.fixture
def no_reading(monkeypatch):
    """Fail the test if caption-dir starts reading its inputs."""
    from vlmcli.captions import pipeline

    def refuse(*args, **kwargs):
        raise AssertionError("the inputs were read before the model was checked")

    monkeypatch.setattr(pipeline, "discover", refuse)


def _last_line(result) -> str:
    assert result.exit_code == 4, result.output
    assert "Traceback" not in result.output
    return result.stderr.strip().splitlines()[-1]


def test_caption_dir_missing_folder(photos, tmp_path, no_reading):
    line = _last_line(runner.invoke(app, ["caption-dir", str(photos), "-o", str(tmp_path / "out"), "-m", "./nope"]))
    assert line == "Error: Model folder ./nope does not exist."
    assert not (tmp_path / "out").exists()


def test_caption_dir_folder_that_is_not_a_model(photos, tmp_path, no_reading):
    line = _last_line(runner.invoke(app, ["caption-dir", str(photos), "-o", str(tmp_path / "out"), "-m", str(photos),
                                          "--dry-run"]))
    assert "has no config.json" in line


def test_offline_hub_id_not_cached(photos, tmp_path, monkeypatch, no_reading):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    line = _last_line(runner.invoke(app, ["caption-dir", str(photos), "-o", str(tmp_path / "out"), "-m", "org/model"]))
    assert "not in the local hub cache and offline mode is on" in line


def test_hub_id_shaped_like_a_folder_here(photos, tmp_path, monkeypatch):
    """`-m models/referense` next to a `models/` folder: the message says the folder is missing too."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models" / "reference").mkdir(parents=True)
    result = runner.invoke(app, ["ask", "-m", "models/referense", str(photos / "0.jpg"), "Hi"])
    assert _last_line(result).endswith("(models/ is a folder here, but it holds no referense.)")


def test_describe_checks_the_model_before_the_pictures(photos):
    result = runner.invoke(app, ["describe", "-m", "./nope", str(photos / "0.jpg"), str(photos / "broken.jpg")])
    assert _last_line(result) == "Error: Model folder ./nope does not exist."
    assert "broken.jpg" not in result.output


@pytest.mark.parametrize("command", [["describe"], ["ask"]])
def test_one_broken_picture_does_not_hide_a_bad_model(photos, command):
    """Before: with a single input the picture was decoded first (exit 3, 'damaged'), so the typo
    in -m showed only after the picture was fixed."""
    question = ["What is it?"] if command == ["ask"] else []
    result = runner.invoke(app, [*command, "-m", "./nope", str(photos / "broken.jpg"), *question])
    assert result.exit_code == 4 and _last_line(result) == "Error: Model folder ./nope does not exist."


def test_a_good_model_passes_the_check(photos, tmp_path):
    reference = Path(__file__).resolve().parents[1] / "models" / "reference"
    result = runner.invoke(app, ["caption-dir", str(photos), "-o", str(tmp_path / "out"), "-m", str(reference),
                                 "--max-tokens", "2", "-q"])
    assert result.exit_code == 9, result.output  # two captions and the broken picture's error row


def test_video_summarize_checks_the_model_before_scanning(tmp_path, monkeypatch):
    """It scanned a 10-minute clip for scene cuts (20 s) before saying the model folder was missing."""
    from vlmcli.commands import video_summarize
    from vlmcli.testing.media.video_clips import clip_set

    def refuse(*args, **kwargs):
        raise AssertionError("the video was scanned before the model was checked")

    monkeypatch.setattr(video_summarize, "plan_summary", refuse, raising=False)
    monkeypatch.setattr("vlmcli.summaries.summarize.plan_summary", refuse)
    line = _last_line(runner.invoke(app, ["video-summarize", str(clip_set().motion.path), "-m", "./nope"]))
    assert line == "Error: Model folder ./nope does not exist."
