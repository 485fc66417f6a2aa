"""`vlm describe`: one answer per image, headings, prompts, order under batching."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo
from vlmcli.cli import app
from vlmcli.commands.describe import PROMPTS, Detail

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def photos(tmp_path):
    return [
        str(save_photo(tmp_path / "astronaut.jpg")),
        str(save_photo(tmp_path / "cat.png", "chelsea")),
        str(save_photo(tmp_path / "coffee.jpg", "coffee")),
    ]


def test_single_image_has_no_heading(monkeypatch, photos):
    install_fake_engine(monkeypatch)
    result = runner.invoke(app, ["describe", photos[0]])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Saw {photos[0]}; asked: {PROMPTS[Detail.NORMAL]}\n"


def test_several_images_get_headings_in_order(monkeypatch, photos):
    fake = install_fake_engine(monkeypatch)
    result = runner.invoke(app, ["describe", "--detail", "brief", *photos[:2], "-q"])  # -q: no progress lines
    assert result.exit_code == 0, result.output
    brief = PROMPTS[Detail.BRIEF]
    assert result.stdout == (
        f"==> {photos[0]} <==\nSaw {photos[0]}; asked: {brief}\n\n==> {photos[1]} <==\nSaw {photos[1]}; asked: {brief}\n"
    )
    assert [len(r.images) for r in fake.requests] == [1, 1]
    assert result.stderr == ""


@pytest.mark.parametrize("detail", list(Detail))
def test_detail_picks_the_prompt(monkeypatch, photos, detail):
    fake = install_fake_engine(monkeypatch)
    runner.invoke(app, ["describe", "--detail", detail.value, photos[0]])
    assert fake.requests[0].prompt == PROMPTS[detail]


def test_prompt_overrides_detail(monkeypatch, photos):
    fake = install_fake_engine(monkeypatch)
    runner.invoke(app, ["describe", "--detail", "detailed", "--prompt", "List the colours.", photos[0]])
    assert fake.requests[0].prompt == "List the colours."


@pytest.mark.parametrize("flags", [[], ["--no-stream"]])
def test_interleaved_batch_still_prints_in_order(monkeypatch, photos, flags):
    fake = install_fake_engine(monkeypatch, interleave=True)
    result = runner.invoke(app, ["describe", "--batch-size", "3", *flags, *photos])
    assert result.exit_code == 0, result.output
    blocks = result.stdout.split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == [f"==> {p} <==" for p in photos]
    assert [b.splitlines()[1] for b in blocks] == [f"Saw {p}; asked: Describe this image." for p in photos]
    assert len(fake.engine.calls) == 1


def test_batch_size_splits_engine_calls(monkeypatch, photos):
    fake = install_fake_engine(monkeypatch)
    runner.invoke(app, ["describe", "--batch-size", "2", *photos])
    assert [len(requests) for requests, _ in fake.engine.calls] == [2, 1]


def test_json_one_object_per_image_in_order(monkeypatch, photos):
    install_fake_engine(monkeypatch, interleave=True)
    result = runner.invoke(app, ["describe", "--json", "--batch-size", "3", *photos])
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["inputs"] for r in records] == [[p] for p in photos]
    assert all(r["visual_tokens"] == 64 for r in records)


def test_stdin_heading(monkeypatch, photos, tmp_path):
    install_fake_engine(monkeypatch)
    data = (tmp_path / "cat.png").read_bytes()
    result = runner.invoke(app, ["describe", photos[0], "-"], input=data)
    assert result.exit_code == 0, result.output
    assert "==> <stdin> <==" in result.stdout
