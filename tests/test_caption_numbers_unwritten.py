"""A `--shard I/N` job with nothing in its shard writes nothing, and the folder it made is
removed again (a run that wrote nothing leaves no empty folder); its summary said
"Output: out3" all the same. Now it says "Output: none written (nothing in shard 3/16)"
and `--json` has "output": null, while a later job's folder is named as before."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from vlmcli.captions.shard import shard_of
from vlmcli.cli import app
from vlmcli.testing.fakes import install_fake_engine, isolate_env

runner = CliRunner()
COUNT = 16


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, colour in enumerate(("red", "blue", "green")):
        Image.new("RGB", (16, 16), colour).save(folder / f"{i}.png")
    return folder


def _shards(photos: Path) -> tuple[int, int]:
    """(a shard holding none of the photos, one holding some)."""
    taken = {shard_of(hashlib.sha256(p.read_bytes()).hexdigest(), COUNT) for p in photos.iterdir()}
    return min(set(range(COUNT)) - taken), min(taken)


def _run(photos: Path, out: Path, shard: int, *extra: str):
    result = runner.invoke(app, ["caption-dir", str(photos), "-o", str(out), "--shard", f"{shard}/{COUNT}", *extra])
    assert result.exit_code == 0, result.output
    return result


def test_an_empty_shard_says_none_written(photos, tmp_path):
    empty, full = _shards(photos)
    out = tmp_path / "out3"
    text = _run(photos, out, empty).stderr.strip().splitlines()[-1]
    assert not out.exists()
    assert text.endswith(f"(3 files belong to other shards). Output: none written (nothing in shard {empty}/{COUNT}).")
    summary = json.loads(_run(photos, out, empty, "--json", "-q").stdout)
    assert summary["output"] is None and summary["ok"] == 0 and summary["out_of_shard"] == 3
    _run(photos, out, full, "-q")  # another job writes its rows there: the folder is named again
    assert out.is_dir()
    assert json.loads(_run(photos, out, empty, "--json", "-q").stdout)["output"] == str(out)
    assert _run(photos, out, empty).stderr.strip().endswith(f"Output: {out}")


def test_stopped_before_the_first_row_names_no_folder(monkeypatch, photos, tmp_path):
    from vlmcli.commands import _runtime
    from vlmcli.testing.fakes import FakeEngine

    class Interrupting(FakeEngine):
        def generate(self, requests, gen):
            raise KeyboardInterrupt

    monkeypatch.setattr(_runtime, "load_engine", Interrupting)
    out = tmp_path / "out"
    result = runner.invoke(app, ["caption-dir", str(photos), "-o", str(out), "--json"])
    assert result.exit_code == 130 and not out.exists()
    assert json.loads(result.stdout)["output"] is None
    assert "Output: none written (stopped before the first row)." in result.stderr
