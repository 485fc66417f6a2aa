"""A `vlm export` that cannot write everything (a full disk, a file size limit, Ctrl-C) exits 8
with one line and leaves no cut-off file a trainer would read: a webdataset shard cut at the
limit, a hidden parquet part, an empty or half-written jsonl, a half-written metadata.jsonl.
Files an earlier export left under the final names stay as they were. Run in a subprocess
with a file size limit (RLIMIT_FSIZE; Python ignores SIGXFSZ, so the write fails with EFBIG)."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo

runner = CliRunner()
LIMIT = 48 * 1024
"""Bytes any one file may reach: more than a caption file, less than the export of the photos."""


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cut")
    photos = root / "photos"
    photos.mkdir()
    for name in ("astronaut", "chelsea", "coffee", "camera", "rocket"):
        save_photo(photos / f"{name}.png", name)  # PNGs: together far over LIMIT
    with pytest.MonkeyPatch.context() as patch:
        isolate_env(patch, root)
        install_fake_engine(patch)
        result = runner.invoke(app, ["caption-dir", str(photos), "-o", str(root / "captions"), "-q"])
    assert result.exit_code == 0, result.output
    return root / "captions"


def small_files() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def export(run: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vlmcli", "export", str(run), *args],
        capture_output=True, text=True, preexec_fn=small_files, timeout=300,
    )


def every_file(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("fmt", ["webdataset", "parquet"])
def test_no_cut_off_shard_is_left(run, tmp_path, fmt):
    out = tmp_path / fmt
    result = export(run, "--to", fmt, "-o", str(out), "--shard-size", "2")
    assert result.returncode == 8, result.stderr
    assert result.stderr.count("Error:") == 1 and "File too large" in result.stderr
    left = every_file(out) if out.exists() else []
    assert not [name for name in left if name.startswith(".") or ".part" in name], left
    if fmt == "webdataset":  # the shards closed before the failure are whole tars
        import tarfile

        for name in left:
            with tarfile.open(out / name) as tar:
                assert len(tar.getnames()) == 6  # 2 records x (image, txt, json)


def test_jsonl_leaves_no_half_file_and_keeps_an_earlier_one(run, tmp_path):
    out = tmp_path / "captions.jsonl"
    out.write_text("an earlier export\n")
    small = export(run, "--to", "jsonl", "-o", str(out), "--force")
    assert small.returncode == 0, small.stderr  # its lines are small: it fits
    assert out.read_text().count("\n") == 5
    out.write_text("an earlier export\n")

    def tiny() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))

    result = subprocess.run(
        [sys.executable, "-m", "vlmcli", "export", str(run), "--to", "jsonl", "-o", str(out), "--force"],
        capture_output=True, text=True, preexec_fn=tiny, timeout=300,
    )
    assert result.returncode == 8, result.stderr
    assert out.read_text() == "an earlier export\n"
    assert every_file(tmp_path) == ["captions.jsonl"]


def test_imagefolder_leaves_no_half_metadata(run, tmp_path):
    out = tmp_path / "folder"
    result = export(run, "--to", "imagefolder", "-o", str(out))
    assert result.returncode == 8, result.stderr
    left = every_file(out)
    assert "metadata.jsonl" not in left and not [n for n in left if n.startswith(".")], left
