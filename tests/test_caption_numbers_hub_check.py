"""A model that cannot load is refused before the inputs are read, online too (README, "A
model that cannot load is refused first"): `-m models/referense` (a typo of the folder
`models/reference`, which reads as a hub id) hashed every input and then failed, exit 4.
Now a hub id the cache does not hold is looked up first (one metadata request; no network
here, so the hub is stubbed), and a cached one makes no request at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.testing.fakes import isolate_env
from vlmcli.testing.hub_cache import put_in_hub_cache

runner = CliRunner()
NEAR = "Did you mean --model models/reference? (models/ is a folder here, but it holds no referense.)"


@pytest.fixture(autouse=True)
def _online(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models" / "reference").mkdir(parents=True)


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
    from vlmcli.captions import pipeline

    def refuse(*args, **kwargs):
        raise AssertionError("the inputs were read before the model was checked")

    monkeypatch.setattr(pipeline, "discover", refuse)


def _hub(monkeypatch, error: str | None) -> list[str]:
    """The hub's answer to `model_info`: no network ("network"), no such repo ("missing"),
    or known (None); returns the ids asked about."""
    import httpx2
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    asked: list[str] = []

    def model_info(self, repo_id, **kwargs):
        asked.append(repo_id)
        if error == "network":
            raise httpx2.ConnectError("[Errno -2] Name or service not known")
        if error == "missing":
            request = httpx2.Request("GET", f"https://huggingface.co/api/models/{repo_id}")
            raise RepositoryNotFoundError("404", response=httpx2.Response(404, request=request))
        return object()

    monkeypatch.setattr(HfApi, "model_info", model_info)
    return asked


def _line(result) -> str:
    assert result.exit_code == 4, result.output
    assert "Reading" not in result.stderr and "Traceback" not in result.output
    return result.stderr.strip().splitlines()[-1]


def test_caption_dir_typo_of_a_folder_refused_before_the_scan_no_network(photos, tmp_path, monkeypatch, no_reading):
    asked = _hub(monkeypatch, "network")
    result = runner.invoke(app, ["caption-dir", str(photos), "-o", str(tmp_path / "out"), "-m", "models/referense"])
    line = _line(result)
    assert asked == ["models/referense"]
    assert line.startswith("Error: Model models/referense could not be downloaded (no network?)") and line.endswith(NEAR)
    assert not (tmp_path / "out").exists()


def test_caption_dir_hub_id_the_hub_does_not_know(photos, tmp_path, monkeypatch, no_reading):
    _hub(monkeypatch, "missing")
    result = runner.invoke(app, ["caption-dir", str(photos), "-o", str(tmp_path / "out"), "-m", "models/referense"])
    assert _line(result) == f"Error: Model models/referense was not found on the Hugging Face hub. {NEAR}"


@pytest.mark.parametrize("command", ["ask", "describe"])
def test_ask_and_describe_check_it_before_the_picture(photos, monkeypatch, command):
    _hub(monkeypatch, "network")
    question = ["What is it?"] if command == "ask" else []
    result = runner.invoke(app, [command, "-m", "someorg/somemodel", str(photos / "broken.jpg"), *question])
    assert _line(result).startswith("Error: Model someorg/somemodel could not be downloaded (no network?)")


def test_a_cached_hub_id_makes_no_request(tmp_path, monkeypatch):
    from vlmcli.engine import EngineConfig
    from vlmcli.engine.loader import check_model

    asked = _hub(monkeypatch, "network")
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    put_in_hub_cache(tmp_path / "hub-cache", "someorg/cached", model)
    check_model(EngineConfig(model="someorg/cached", cache_dir=tmp_path / "hub-cache"))
    assert asked == []
    with pytest.raises(Exception, match="could not be downloaded"):  # not cached: asked, and refused
        check_model(EngineConfig(model="someorg/other", cache_dir=tmp_path / "hub-cache"))
    assert asked == ["someorg/other"]


def test_a_hub_id_the_hub_knows_passes(tmp_path, monkeypatch):
    from vlmcli.engine import EngineConfig
    from vlmcli.engine.loader import check_model

    asked = _hub(monkeypatch, None)
    check_model(EngineConfig(model="someorg/known"))  # the load downloads it
    assert asked == ["someorg/known"]
