"""caption-dir's captioning time runs from the end of the model load to the end of the run
(docs/caption-dir.md, "Summary and exit codes"), for dataset shards as for folders: the
load is never inside `captioning_s`, so load + captioning never exceed the run's time and
the rate is not understated."""

from __future__ import annotations

import time

import pytest

from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import FakeEngineFactory, caption_dir, install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import write_webdataset

LOAD_S = 0.6


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


class SlowLoad(FakeEngineFactory):
    """A model that takes LOAD_S seconds to load, and says so (`engine.load_s`)."""

    def __call__(self, config):
        time.sleep(LOAD_S)
        engine = super().__call__(config)
        engine.load_s = LOAD_S
        return engine


def _slow_engine(monkeypatch) -> None:
    from vlmcli.commands import _runtime

    install_fake_engine(monkeypatch)
    monkeypatch.setattr(_runtime, "load_engine", SlowLoad())


def _check_clock(summary: dict) -> None:
    assert summary["captioned"] > 0 and summary["load_s"] == pytest.approx(LOAD_S)
    # the load is outside the captioning time: both fit in the run's time
    assert summary["captioning_s"] + summary["load_s"] <= summary["elapsed_s"] + 0.05, summary
    assert summary["images_per_s"] == pytest.approx(summary["captioned"] / summary["captioning_s"], rel=0.05)


def test_tar_shards_captioning_time_starts_after_the_load(monkeypatch, tmp_path):
    _slow_engine(monkeypatch)
    write_webdataset(tmp_path / "wds", sample_photos()[:3], shards=2, broken=False)
    summary = caption_dir(tmp_path / "wds", "-o", tmp_path / "out")
    assert summary["shards"] == 2
    _check_clock(summary)


def test_folder_captioning_time_starts_after_the_load(monkeypatch, tmp_path):
    _slow_engine(monkeypatch)
    folder = tmp_path / "photos"
    folder.mkdir()
    for index, photo in enumerate(sample_photos()[:3]):
        photo.save(folder / f"p{index}.png")
    _check_clock(caption_dir(folder, "-o", tmp_path / "out"))
