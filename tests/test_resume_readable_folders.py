"""A subfolder that could not be listed gets an error row ("Cannot read folder ...: permission
denied; its files were not captioned"); once the user fixes its permissions, a rerun captions
its files and drops that row (`readable_folder_errors` in --json, one `note:` line), where it
stayed forever before (`vlm report` and `vlm export` counted it as a failure). While the folder
still cannot be listed its row stays (retried, exit 9). --dry-run counts it and changes nothing.

Permission denial is simulated in process as tests/test_folder_scan.py does (os.scandir
raising EACCES: we run as root, which reads mode-000 folders); one test denies it for real,
with `setpriv` dropping root's capabilities (`ResumeIndex.gone_errors`, `Gone.readable`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.exports.results import read_results
from vlmcli.sinks import OutputFormat, SinkConfig, make_sink
from vlmcli.sinks.schema import FIELDS
from vlmcli.testing.fakes import caption_dir, install_fake_engine, isolate_env, save_photo

runner = CliRunner()
NOTE = "note: 1 error row of a folder that could not be read before was dropped from the output: it is read now"
DRY_NOTE = (
    "note: 1 error row of a folder that could not be read before would be dropped from the output by a run, "
    "as it is read now (a dry run changes nothing)"
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)


class Denied:
    """os.scandir of the folders in `paths` fails as it does without read permission."""

    def __init__(self, monkeypatch) -> None:
        self.paths: set[str] = set()
        real = os.scandir

        def scandir(path="."):
            if os.path.realpath(os.fspath(path)) in self.paths:
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real(path)

        monkeypatch.setattr(os, "scandir", scandir)


@pytest.fixture
def pics(tmp_path, monkeypatch) -> Path:
    """pics/a.png and pics/sub/b.png."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pics" / "sub").mkdir(parents=True)
    save_photo(tmp_path / "pics" / "a.png")
    save_photo(tmp_path / "pics" / "sub" / "b.png", "chelsea")
    return tmp_path / "pics"


def rows(out: Path) -> list[tuple[str, str]]:
    return sorted((r["path"], r["status"]) for r in read_results(out))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def report_errors(out: Path, tmp_path: Path) -> int:
    result = runner.invoke(app, ["report", str(out), "-o", str(tmp_path / "r.html"), "--force", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["errors"]


def test_a_folder_read_again_loses_its_error_row(pics, tmp_path, monkeypatch):
    denied = Denied(monkeypatch)
    denied.paths.add(str(pics / "sub"))
    sub, b = str(pics / "sub"), str(pics / "sub" / "b.png")
    first = caption_dir("pics", "-o", "out", code=9)
    assert (first["ok"], first["error"]) == (1, 1)
    assert rows(tmp_path / "out") == [(str(pics / "a.png"), "ok"), (sub, "error")]

    still = caption_dir("pics", "-o", "out", code=9)  # still unreadable: its row stays (retried)
    assert (still["error"], still["skipped"], still["readable_folder_errors"]) == (1, 1, 0)
    assert rows(tmp_path / "out") == [(str(pics / "a.png"), "ok"), (sub, "error")]

    denied.paths.clear()  # chmod 755
    before = snapshot(tmp_path / "out")
    dry = runner.invoke(app, ["caption-dir", "pics", "-o", "out", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["readable_folder_errors"] == 1 and DRY_NOTE in dry.stderr
    assert snapshot(tmp_path / "out") == before  # the dry run changes nothing

    result = runner.invoke(app, ["caption-dir", "pics", "-o", "out", "--json"])
    assert result.exit_code == 0, result.output
    again = json.loads(result.stdout)
    assert (again["ok"], again["error"], again["readable_folder_errors"], again["gone_errors"]) == (1, 0, 1, 0)
    assert result.stderr.count(NOTE) == 1, result.stderr
    assert rows(tmp_path / "out") == [(str(pics / "a.png"), "ok"), (b, "ok")]
    assert report_errors(tmp_path / "out", tmp_path) == 0

    third = caption_dir("pics", "-o", "out")
    assert (third["skipped"], third["readable_folder_errors"]) == (2, 0)


def test_a_folder_whose_parent_is_unreadable_now_keeps_its_row(tmp_path, monkeypatch):
    """pics/top/sub could not be read; now pics/top cannot: the parent's row is the news, and
    the child's (not listed this time either) stays."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pics" / "top" / "sub").mkdir(parents=True)
    save_photo(tmp_path / "pics" / "a.png")
    save_photo(tmp_path / "pics" / "top" / "sub" / "b.png")
    denied = Denied(monkeypatch)
    top, sub = tmp_path / "pics" / "top", tmp_path / "pics" / "top" / "sub"
    denied.paths.add(str(sub))
    caption_dir("pics", "-o", "out", code=9)
    denied.paths = {str(top)}
    again = caption_dir("pics", "-o", "out", code=9)
    assert (again["readable_folder_errors"], again["gone_errors"]) == (0, 0)
    errors = sorted(p for p, status in rows(tmp_path / "out") if status == "error")
    assert errors == [str(top), str(sub)]


def _row(path: str, error: str, *, config: str = "c1") -> dict:
    from datetime import datetime, timezone

    values = {"path": path, "status": "error", "error": error, "prompt": "Describe.", "model": "m",
              "config_hash": config, "created_at": datetime(2026, 1, 2, tzinfo=timezone.utc)}  # fmt: skip
    return {name: values.get(name) for name in FIELDS}


def test_only_folder_rows_of_folders_listed_now_go(tmp_path):
    """Of the error rows at folders under an input folder, only "Cannot read folder" rows of a
    real folder (not a link, which walking never follows) go, of this run's settings only; a
    file's error row at a path that is a folder now is left as before."""
    from vlmcli.inputs.walk import unreadable_text

    pics, out = tmp_path / "pics", tmp_path / "out"
    for name in ("fixed", "was_a_file", "other_settings"):
        (pics / name).mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (pics / "link").symlink_to(tmp_path / "elsewhere")
    with make_sink(OutputFormat.JSONL, SinkConfig(output=out)) as sink:
        sink.write([
            _row(str(pics / "fixed"), unreadable_text("pics/fixed", "permission denied")),
            _row(str(pics / "link"), unreadable_text("pics/link", "permission denied")),
            _row(str(pics / "was_a_file"), "pics/was_a_file is damaged or truncated and cannot be decoded"),
            _row(str(pics / "other_settings"), unreadable_text("pics/other_settings", "permission denied"), config="c2"),
        ])  # fmt: skip
    sink = make_sink(OutputFormat.JSONL, SinkConfig(output=out))
    state = sink.resume_state(paths=[], config_hashes=frozenset({"c1"}), folders=[str(pics)])
    assert (state.readable, state.gone) == (1, 0)
    sink.retire(set())
    assert sorted(Path(r["path"]).name for r in read_results(out)) == ["link", "other_settings", "was_a_file"]


@pytest.mark.skipif(shutil.which("setpriv") is None or os.geteuid() != 0, reason="needs root and setpriv")
def test_really_denied_then_fixed(pics, tmp_path):
    """chmod 000, a run without root's capabilities (as a user's), chmod 755, a rerun."""
    drop = "-dac_override,-dac_read_search"
    code = "from vlmcli.testing.fakes import main_with_fake; main_with_fake()"
    command = [sys.executable, "-c", code, "caption-dir", "pics", "-o", "out", "-q", "--json"]
    root = str(Path(__file__).resolve().parents[1])  # this checkout's vlmcli, whatever is installed
    env = {**os.environ, "VLMCLI_FAKE_ENGINE": "{}", "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}

    def run(*prefix: str) -> tuple[int, dict]:
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
        assert done.returncode in (0, 9), done.stderr
        return done.returncode, json.loads(done.stdout)

    (pics / "sub").chmod(0)
    try:
        code1, first = run("setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}")
    finally:
        (pics / "sub").chmod(0o755)
    assert (code1, first["error"]) == (9, 1), first
    assert "permission denied" in first["errors"][0]["error"]
    code2, again = run()
    assert (code2, again["ok"], again["readable_folder_errors"]) == (0, 1, 1), again
    assert rows(tmp_path / "out") == [(str(pics / "a.png"), "ok"), (str(pics / "sub" / "b.png"), "ok")]
    assert report_errors(tmp_path / "out", tmp_path) == 0
