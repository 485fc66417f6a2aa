"""Results that cannot be written are one line and exit 8 (docs/exit-codes.md), never
"unexpected OSError" (exit 1, "a bug") or a traceback: a full disk under stdout, a closed
stdout, help text on a full disk, a report's -o under a file or where no folder can be made."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.errors import OutputError
from vlmcli.output_files import make_folder
from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo

ROOT = Path(__file__).resolve().parents[1]
FAKE = "from vlmcli.testing.fakes import main_with_fake; main_with_fake()"
FULL = Path("/dev/full")


def vlm(tmp_path, args, *, stdout, fake: bool = False):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLM_")}
    env |= {"PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "HF_HUB_CACHE": str(tmp_path / "hub")}
    cmd = [sys.executable, "-c", FAKE, *args] if fake else [sys.executable, "-m", "vlmcli", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, stdout=stdout, stderr=subprocess.PIPE, timeout=60)


@pytest.mark.skipif(not FULL.exists(), reason="no /dev/full on this system")
@pytest.mark.parametrize("args", [["--help"], ["ask", "-h"], ["--version"], ["config"], ["ask", "{photo}", "hi"],
                                  ["ask", "{photo}", "hi", "--json"], ["describe", "{photo}"]])
def test_a_full_disk_under_stdout_is_one_line_exit_8(tmp_path, args):
    photo = save_photo(tmp_path / "p.png")
    args = [a.format(photo=photo) for a in args]
    with FULL.open("wb") as full:
        result = vlm(tmp_path, args, stdout=full, fake=args[0] in ("ask", "describe") and "-h" not in args)
    stderr = result.stderr.decode()
    assert result.returncode == 8, stderr
    assert stderr.splitlines() == ["Error: Cannot write the results: No space left on device."]


def test_a_closed_stdout_is_one_line_exit_8(tmp_path):
    photo = save_photo(tmp_path / "p.png")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLM_")} | {"PYTHONPATH": str(ROOT)}
    result = subprocess.run(  # fd 1 closed before Python starts: sys.stdout is None
        [sys.executable, "-c", FAKE, "ask", str(photo), "hi"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, timeout=60, preexec_fn=lambda: os.close(1),
    )
    assert result.returncode == 8, result.stderr
    assert result.stderr.decode().splitlines() == [
        "Error: standard output is closed; vlm writes its results there (redirect it to a file)."
    ]


def test_a_report_that_cannot_be_written_is_exit_8(tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)
    photos = tmp_path / "photos"
    photos.mkdir()
    photo = save_photo(photos / "cat.png")
    runner = CliRunner()
    assert runner.invoke(app, ["caption-dir", str(photos), "-o", str(tmp_path / "caps"), "-q"]).exit_code == 0
    under_a_file = runner.invoke(app, ["report", str(tmp_path / "caps"), "-o", f"{photo}/r.html"])
    assert under_a_file.exit_code == 8, under_a_file.output
    assert under_a_file.stderr.splitlines() == [f"Error: Cannot create the folder {photo}: a file has that name."]


def test_make_folder_names_the_file_in_the_way(tmp_path):
    blocker = tmp_path / "cat.png"
    blocker.write_bytes(b"x")
    with pytest.raises(OutputError, match=rf"Cannot create the folder {blocker}/a/b: {blocker} is a file, not a folder"):
        make_folder(blocker / "a" / "b")
    assert make_folder(tmp_path / "new" / "deep").is_dir()


@pytest.fixture
def run_folder(tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)
    photos = tmp_path / "photos"
    photos.mkdir()
    save_photo(photos / "cat.png")
    assert CliRunner().invoke(app, ["caption-dir", str(photos), "-o", str(tmp_path / "caps"), "-q"]).exit_code == 0
    return tmp_path / "caps"


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "imagefolder", "webdataset", "txt"])
def test_an_export_under_a_file_is_exit_8(run_folder, tmp_path, fmt):
    """`-o photo.png/out`: "unexpected FileExistsError" / "NotADirectoryError", exit 1."""
    blocker = tmp_path / "photos" / "cat.png"
    result = CliRunner().invoke(app, ["export", str(run_folder), "--to", fmt, "-o", f"{blocker}/out"])
    assert result.exit_code == 8, result.output
    assert result.stderr.startswith("Error: Cannot create the folder ") and len(result.stderr.splitlines()) == 1


def test_jsonl_export_to_standard_output(run_folder, tmp_path, monkeypatch):
    """`-o -` wrote a file named `-`."""
    import json

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["export", str(run_folder), "--to", "jsonl", "-o", "-"])
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    assert json.loads(line)["image_path"] == str(tmp_path / "photos" / "cat.png") and not (tmp_path / "-").exists()
    assert "to standard output as jsonl" in result.stderr
    both = CliRunner().invoke(app, ["export", str(run_folder), "--to", "jsonl", "-o", "-", "--json"])
    assert both.exit_code == 2 and "drop one of them" in both.stderr
    folder = CliRunner().invoke(app, ["export", str(run_folder), "--to", "parquet", "-o", "-"])
    assert folder.exit_code == 2 and "-o - (standard output) is for --to jsonl" in folder.stderr


def test_every_output_folder_that_cannot_be_made_is_said_alike(run_folder, tmp_path):
    """caption-dir said "Cannot create output folder X: Not a directory." where export and
    report said "Cannot create the folder X: Y is a file, not a folder."; export -o - on a full
    disk said "Cannot write -"."""
    blocker = tmp_path / "photos" / "cat.png"
    result = CliRunner().invoke(app, ["caption-dir", str(tmp_path / "photos"), "-o", f"{blocker}/out", "-q"])
    assert result.exit_code == 8
    assert result.stderr == f"Error: Cannot create the folder {blocker}/out: {blocker} is a file, not a folder.\n"


@pytest.mark.skipif(not FULL.exists(), reason="no /dev/full on this system")
def test_export_to_standard_output_on_a_full_disk(tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    photos = tmp_path / "photos"
    photos.mkdir()
    save_photo(photos / "cat.png")
    assert vlm(tmp_path, ["caption-dir", str(photos), "-o", str(tmp_path / "caps"), "-q"],
               stdout=subprocess.DEVNULL, fake=True).returncode == 0
    with FULL.open("wb") as full:
        result = vlm(tmp_path, ["export", str(tmp_path / "caps"), "--to", "jsonl", "-o", "-"], stdout=full)
    assert result.returncode == 8
    assert result.stderr.decode().splitlines() == ["Error: Cannot write the results: No space left on device."]
