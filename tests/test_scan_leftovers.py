"""What walking input folders did not reach is said everywhere (`inputs/walk.py`):

- symlinked subfolders of plain folders are listed in `--json` (`symlinked_folders`) of the
  run's summary and of the dry run, not only in the stderr note;
- a folder of dataset shards (tars) loses no shard without a word: a subfolder that cannot
  be listed is a shard error (exit 9), and symlinked subfolders get the note;
- the walk says it started when it takes long ("Scanning ..."), and a fast run's stderr is
  unchanged.

Permission denial is simulated in process (os.scandir raising EACCES: tests run as root)."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.inputs.expand import dataset_shards
from vlmcli.inputs.formats import InputFormat
from vlmcli.testing.fakes import caption_dir, install_fake_engine, isolate_env, save_photo

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)
    monkeypatch.chdir(tmp_path)


def _deny(monkeypatch, *folders: Path) -> None:
    denied = {os.path.realpath(f) for f in folders}
    real = os.scandir

    def scandir(path="."):
        if os.path.realpath(os.fspath(path)) in denied:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def _tar(path: Path, photo: str = "astronaut") -> None:
    """A one-sample WebDataset shard: `<stem>.jpg`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = path.parent / f"{path.stem}.jpg"
    save_photo(image, photo)
    data = image.read_bytes()
    image.unlink()
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo(f"{path.stem}.jpg")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


NOTE_T1 = "note: not following 1 symlinked folder(s) (t1/more): pass them as inputs to caption them"


def test_symlinked_folders_in_json_of_run_and_dry_run(tmp_path):
    (tmp_path / "t1").mkdir()
    (tmp_path / "t1b").mkdir()
    save_photo(tmp_path / "t1" / "a.png")
    save_photo(tmp_path / "t1b" / "b.png", "chelsea")
    (tmp_path / "t1" / "more").symlink_to("../t1b")
    summary = caption_dir("t1", "-o", "out")
    assert summary["ok"] == 1 and summary["symlinked_folders"] == ["t1/more"]
    dry = runner.invoke(app, ["caption-dir", "t1", "-o", "out2", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["symlinked_folders"] == ["t1/more"]
    assert NOTE_T1 in dry.stderr.splitlines()
    plain = caption_dir("t1b", "-o", "out3")
    assert plain["symlinked_folders"] == []


@pytest.fixture
def shards(tmp_path, monkeypatch) -> Path:
    """shards/00000.tar, shards/locked/00001.tar (cannot be listed), shards/more -> ../other (00002.tar)."""
    _tar(tmp_path / "shards" / "00000.tar")
    _tar(tmp_path / "shards" / "locked" / "00001.tar", "chelsea")
    _tar(tmp_path / "other" / "00002.tar", "coffee")
    (tmp_path / "shards" / "more").symlink_to("../other")
    _deny(monkeypatch, tmp_path / "shards" / "locked")
    return tmp_path / "shards"


LOCKED = "Cannot read folder shards/locked: permission denied; its files were not captioned"
NOTE_SHARDS = "note: not following 1 symlinked folder(s) (shards/more): pass them as inputs to caption them"


def test_shard_folder_walk_keeps_what_it_did_not_reach(shards):
    found = dataset_shards(["shards"])
    assert [Path(ref.path).name for ref in found] == ["00000.tar"]
    assert found.unreadable == [LOCKED] and found.linked == ["shards/more"] and found.notes() == [NOTE_SHARDS]
    forced = dataset_shards(["shards"], forced=InputFormat.WEBDATASET)
    assert forced.unreadable == [LOCKED] and forced.linked == ["shards/more"]


def test_shard_folder_dry_run_names_unreadable_and_symlinked(shards):
    dry = runner.invoke(app, ["caption-dir", "shards", "-o", "out", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert NOTE_SHARDS in dry.stderr.splitlines() and f"Not read: {LOCKED}" in dry.stderr.splitlines()
    data = runner.invoke(app, ["caption-dir", "shards", "-o", "out", "--dry-run", "--json"])
    report = json.loads(data.stdout)
    assert report["symlinked_folders"] == ["shards/more"] and report["unreadable_folders"] == [LOCKED]


def test_summary_takes_what_the_shard_walk_did_not_reach(shards):
    """What a dataset run records (`Summary.unwalked`, called by `captions.entry.run_job`)."""
    from vlmcli.captions.summary import Summary

    summary = Summary()
    lines = summary.unwalked(dataset_shards(["shards"]))
    assert lines == [NOTE_SHARDS, f"Error: {LOCKED}"]
    assert summary.failed and summary.shard_errors == [LOCKED] and summary.symlinked_folders == ["shards/more"]


def test_shard_folder_run_exits_9_naming_the_unreadable_folder(shards):
    """The run (`captions.entry.run_job` calls `Summary.unwalked`): exit 9, both said."""
    result = runner.invoke(app, ["caption-dir", "shards", "-o", "out", "--json"])
    assert result.exit_code == 9, result.output
    summary = json.loads(result.stdout)
    assert summary["ok"] == 1 and summary["shard_errors"] == [LOCKED]
    assert summary["symlinked_folders"] == ["shards/more"]
    assert NOTE_SHARDS in result.stderr.splitlines() and f"Error: {LOCKED}" in result.stderr.splitlines()


def _slow_listing(monkeypatch, folder: Path, seconds: float) -> None:
    """Listing `folder` takes `seconds` (a huge tree, a network disk)."""
    slow = os.path.realpath(folder)
    real = os.scandir

    def scandir(path="."):
        if os.path.realpath(os.fspath(path)) == slow:
            time.sleep(seconds)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_a_long_walk_says_it_started_and_a_fast_one_does_not(tmp_path, monkeypatch):
    from vlmcli.captions import progress

    (tmp_path / "t").mkdir()
    save_photo(tmp_path / "t" / "a.png")
    fast = runner.invoke(app, ["caption-dir", "t", "-o", "out"])  # stderr is not a terminal: log lines
    assert fast.exit_code == 0, fast.output
    assert fast.stderr.splitlines()[0] == "Reading 1 file (hashing each once)"
    monkeypatch.setattr(progress, "SCAN_NOTICE_S", 0.05, raising=False)
    _slow_listing(monkeypatch, tmp_path / "t", 0.6)
    slow = runner.invoke(app, ["caption-dir", "t", "-o", "out2"])
    assert slow.exit_code == 0, slow.output
    lines = slow.stderr.splitlines()
    assert lines[:2] == ["Scanning t (listing its files) ...", "Reading 1 file (hashing each once)"]
    quiet = runner.invoke(app, ["caption-dir", "t", "-o", "out3", "-q"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
