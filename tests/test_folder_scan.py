"""Walking input folders loses nothing without a word (`inputs/walk.py`, `captions/discover.py`):
an unreadable subfolder is an error row (exit 9, retried on rerun), an unreadable INPUT
folder is refused in one line (exit 3), symlinked subfolders are named in a note, and a
caption run's own output folder given as the INPUT is recognised as such.

Permission denial is simulated in process (os.scandir raising EACCES for one folder: we run
as root, which reads mode-000 folders); one test also denies it for real with setpriv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.captions.discover import discover
from vlmcli.cli import app
from vlmcli.errors import InputError
from vlmcli.testing.fakes import caption_dir, install_fake_engine, isolate_env, save_photo

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)


def _deny(monkeypatch, *folders: Path) -> None:
    """os.scandir of these folders fails as it does without read permission."""
    denied = {os.path.realpath(f) for f in folders}
    real = os.scandir

    def scandir(path="."):
        if os.path.realpath(os.fspath(path)) in denied:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


@pytest.fixture
def t2(tmp_path, monkeypatch) -> Path:
    """t2/a.png, and t2/locked/b.png that cannot be listed."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t2" / "locked").mkdir(parents=True)
    save_photo(tmp_path / "t2" / "a.png")
    save_photo(tmp_path / "t2" / "locked" / "b.png", "chelsea")
    _deny(monkeypatch, tmp_path / "t2" / "locked")
    return tmp_path / "t2"


def test_unreadable_subfolder_is_an_error_row_and_retried(t2, tmp_path):
    summary = caption_dir("t2", "-o", "out", code=9)
    assert summary["ok"] == 1 and summary["error"] == 1
    [error] = summary["errors"]
    assert error["path"] == str(t2 / "locked")
    assert error["error"] == "Cannot read folder t2/locked: permission denied; its files were not captioned"
    again = caption_dir("t2", "-o", "out", code=9)  # retried: still unreadable, still said
    assert again["error"] == 1 and again["skipped"] == 1
    dry = runner.invoke(app, ["caption-dir", "t2", "-o", "out", "--dry-run"])
    assert dry.exit_code == 0 and "1 unreadable" in dry.stderr
    assert "Cannot read folder t2/locked: permission denied" in dry.stderr


@pytest.mark.parametrize("extra", [[], ["--dry-run"], ["--input-format", "files"]])
def test_unreadable_input_folder_is_refused_in_one_line(t2, tmp_path, extra):
    (tmp_path / "ok").mkdir()
    save_photo(tmp_path / "ok" / "c.png")
    for inputs in (["t2/locked"], ["ok", "t2/locked"]):
        result = runner.invoke(app, ["caption-dir", *inputs, "-o", "out", *extra])
        assert result.exit_code == 3, result.output
        assert result.stderr.strip() == "Error: Cannot read folder t2/locked: permission denied."


@pytest.mark.skipif(shutil.which("setpriv") is None or os.geteuid() != 0, reason="needs root and setpriv")
def test_unreadable_input_folder_really_denied(tmp_path):
    """The real EACCES (Path.is_file() raising it was an 'unexpected PermissionError')."""
    locked = tmp_path / "locked"
    locked.mkdir()
    save_photo(locked / "b.png")
    locked.chmod(0)
    code = (
        "import sys; from pathlib import Path; from vlmcli.errors import InputError\n"
        "from vlmcli.inputs.expand import dataset_shards\n"
        "try: dataset_shards([sys.argv[1]])\n"
        "except InputError as e: print(e); sys.exit(3)\n"
    )
    drop = "-dac_override,-dac_read_search"
    command = ["setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}", sys.executable, "-c", code, str(locked)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    finally:
        locked.chmod(0o755)
    assert result.returncode == 3, result.stderr
    assert result.stdout.strip() == f"Cannot read folder {locked}: permission denied."


@pytest.fixture
def t1(tmp_path, monkeypatch) -> Path:
    """t1/a.png and t1/more -> ../t1b (holding b.png)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t1").mkdir()
    (tmp_path / "t1b").mkdir()
    save_photo(tmp_path / "t1" / "a.png")
    save_photo(tmp_path / "t1b" / "b.png", "chelsea")
    (tmp_path / "t1" / "more").symlink_to("../t1b")
    return tmp_path / "t1"


NOTE = "note: not following 1 symlinked folder(s) (t1/more): pass them as inputs to caption them"


def test_symlinked_folders_are_not_followed_but_named(t1):
    found = discover(inputs=["t1"])
    assert [Path(c.path).name for c in found] == ["a.png"] and found.notes() == [NOTE]
    run = runner.invoke(app, ["caption-dir", "t1", "-o", "out"])
    assert run.exit_code == 0 and NOTE in run.stderr.splitlines()
    dry = runner.invoke(app, ["caption-dir", "t1", "-o", "out2", "--dry-run"])
    assert dry.exit_code == 0 and NOTE in dry.stderr.splitlines()
    both = caption_dir("t1", "t1/more", "-o", "out3")  # passed as an input: captioned
    assert both["ok"] == 2


def test_walk_order_hidden_and_output_folder_left_out(tmp_path):
    from vlmcli.inputs.walk import list_tree

    for name in ("b/z.png", "b/a.png", "a.png", "c/d/e.png", ".h/x.png", "out/o.png", ".x.png"):
        (tmp_path / "t" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "t" / name).write_bytes(b"x")
    listing = list_tree(tmp_path / "t", exclude=tmp_path / "t" / "out")
    assert listing.files == ["a.png", os.path.join("b", "a.png"), os.path.join("b", "z.png"), os.path.join("c", "d", "e.png")]
    assert listing.files == [str(Path(p).relative_to(tmp_path / "t")) for p in _os_walk(tmp_path / "t", "out")]


def _os_walk(folder: Path, skip: str) -> list[str]:
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != skip)
        out += [os.path.join(root, f) for f in sorted(files) if not f.startswith(".")]
    return out


def test_folder_listed_twice_per_run_not_three_times(tmp_path, monkeypatch):
    """The format check and discover walk a plain folder once each (a deep tree took 3 walks)."""
    monkeypatch.chdir(tmp_path)
    for i in range(3):
        (tmp_path / "p" / f"d{i}").mkdir(parents=True)
        save_photo(tmp_path / "p" / f"d{i}" / f"{i}.png")
    listed: list[str] = []
    real = os.scandir

    def scandir(path="."):
        listed.append(os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    summary = caption_dir("p", "-o", "out")
    assert summary["ok"] == 3
    assert listed.count(os.path.join("p", "d1")) == 2


def test_own_output_folder_as_input_is_named_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t3").mkdir()
    save_photo(tmp_path / "t3" / "a.png")
    for fmt in ("jsonl", "parquet"):
        caps = f"t3/caps-{fmt}"
        caption_dir("t3", "-o", caps, "--format", fmt)
        same = runner.invoke(app, ["caption-dir", caps, "-o", caps, "--format", fmt])
        assert same.exit_code == 3, same.output
        assert f"{caps} is this run's output folder (-o)" in same.stderr and "dataset file" not in same.stderr
        other = runner.invoke(app, ["caption-dir", caps, "-o", "elsewhere", "--format", fmt])
        assert other.exit_code == 3, other.output
        assert f"{caps} holds a caption run's output (part-00000.{fmt})" in other.stderr
    again = caption_dir("t3", "-o", "t3", "--format", "jsonl")  # output among the pictures: still fine
    assert again["ok"] == 1


def test_discover_refuses_unreadable_input_folder(t2):
    with pytest.raises(InputError, match="Cannot read folder t2/locked: permission denied"):
        discover(inputs=["t2/locked"])


def test_links_back_into_the_walked_tree_are_not_worth_a_note(tmp_path, monkeypatch):
    """`c/up -> ..` and `c/same -> ../a` reach files walked anyway: only a link out is named."""
    from vlmcli.inputs.walk import list_tree

    monkeypatch.chdir(tmp_path)
    (tmp_path / "in" / "a").mkdir(parents=True)
    (tmp_path / "in" / "c").mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink("..", tmp_path / "in" / "c" / "up")
    os.symlink("../a", tmp_path / "in" / "c" / "same")
    os.symlink("../../elsewhere", tmp_path / "in" / "c" / "out")
    os.symlink("../..", tmp_path / "in" / "c" / "above")
    assert list_tree("in").linked == [os.path.join("c", "out")]


def test_a_symlinked_folder_also_given_as_an_input_is_not_noted(tmp_path, monkeypatch):
    """`caption-dir pics pics/linked`: the link's files are captioned through the second input."""
    from vlmcli.captions.discover import discover

    monkeypatch.chdir(tmp_path)
    (tmp_path / "pics").mkdir()
    (tmp_path / "real").mkdir()
    save_photo(tmp_path / "real" / "b.png")
    os.symlink("../real", tmp_path / "pics" / "linked")
    assert discover(inputs=["pics"]).linked == [os.path.join("pics", "linked")]
    found = discover(inputs=["pics", os.path.join("pics", "linked")])
    assert found.linked == [] and [os.path.basename(c.path) for c in found] == ["b.png"]
