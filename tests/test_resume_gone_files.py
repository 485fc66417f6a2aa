"""Error rows of files no longer there leave the output: a file under an INPUT folder that
failed and was then deleted kept its error rows forever (`vlm report` and `vlm export`
counted them), because resume is asked only about the files there are. Now a rerun drops
them (`gone_errors` in --json, one `note:` line), from its own shards only, never an ok
row, never a row of a file still on disk; --dry-run only says so.

Real runs of `vlm caption-dir` on a tiny Qwen2-VL checkpoint (`sinks/resume_index.py`,
`ResumeIndex.gone_errors`; wired in `sinks/shards.py` and `captions/pipeline.py`)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.exports.results import read_results
from vlmcli.testing.fakes import isolate_env, save_photo

PROMPTS = ("Describe.", "List the objects.")
CORRUPT = b"\xff\xd8\xff\xe0" + b"\x00garbage" * 10


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def model(tiny_checkpoint) -> Path:
    return tiny_checkpoint("qwen2_vl")


@pytest.fixture
def data(tmp_path) -> Path:
    """data/mix: three photos and two corrupt pictures; data/link -> mix (a symlinked folder)."""
    root = tmp_path / "data"
    mix = root / "mix"
    (mix / "sub").mkdir(parents=True)
    save_photo(mix / "a.png")
    save_photo(mix / "b.jpg", "chelsea")
    save_photo(mix / "sub" / "c.png", "coffee")
    (mix / "bad.jpg").write_bytes(CORRUPT)
    (mix / "sub" / "bad2.jpg").write_bytes(CORRUPT + b"2")
    os.symlink(mix, root / "link")
    (tmp_path / "elsewhere").mkdir()
    return root


def caption(model: Path, *args: object, prompts: tuple[str, ...] = PROMPTS) -> tuple[int, dict, str]:
    """(exit code, --json summary, stderr) of `vlm caption-dir ARGS` on the tiny checkpoint."""
    flags = [a for p in prompts for a in ("-p", p)]
    result = CliRunner().invoke(
        app, ["caption-dir", *map(str, args), "-m", str(model), "--max-tokens", "4", *flags, "--json"]
    )
    assert result.exit_code in (0, 9), result.output
    return result.exit_code, json.loads(result.stdout), result.stderr


def errors_by_file(out: Path) -> Counter:
    return Counter(Path(r["path"]).name for r in read_results(out) if r["status"] == "error")


def ok_by_file(out: Path) -> Counter:
    return Counter(Path(r["path"]).name for r in read_results(out) if r["status"] == "ok")


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def report_and_export(out: Path, tmp_path: Path) -> tuple[dict, dict]:
    """What `vlm report --json` and `vlm export --json` say of the output."""
    runner = CliRunner()
    report = runner.invoke(app, ["report", str(out), "-o", str(tmp_path / "r.html"), "--force", "--json"])
    export = runner.invoke(app, ["export", str(out), "--to", "jsonl", "-o", str(tmp_path / "e.jsonl"), "--force", "--json"])
    assert report.exit_code == 0 and export.exit_code in (0, 9), (report.output, export.output)
    return json.loads(report.stdout), json.loads(export.stdout.splitlines()[0])


def test_the_error_rows_of_a_deleted_file_go_its_ok_rows_stay_and_a_dry_run_only_says_so(model, data, tmp_path):
    mix, out = data / "mix", tmp_path / "out"
    code, first, _ = caption(model, mix, "-o", out)
    assert (code, first["ok"], first["error"], first["gone_errors"]) == (9, 6, 4, 0)
    assert errors_by_file(out) == {"bad.jpg": 2, "bad2.jpg": 2}
    (mix / "bad.jpg").unlink()  # failed, then deleted
    (mix / "a.png").unlink()  # captioned, then deleted: a caption outlives its file

    before = snapshot(out)
    prompts = [a for p in PROMPTS for a in ("-p", p)]
    dry = CliRunner().invoke(
        app, ["caption-dir", str(mix), "-o", str(out), "-m", str(model), "--max-tokens", "4", *prompts, "--dry-run"]
    )
    assert dry.exit_code == 0, dry.output
    said = "note: 2 error rows of inputs no longer there would be dropped from the output by a run"
    assert dry.stderr.count(f"{said} (a dry run changes nothing)") == 1, dry.stderr
    assert snapshot(out) == before  # nothing changed

    code, again, stderr = caption(model, mix, "-o", out)
    assert (code, again["gone_errors"], again["error"], again["skipped"]) == (9, 2, 2, 4), stderr
    assert stderr.count("note: 2 error rows of inputs no longer there were dropped from the output") == 1, stderr
    assert errors_by_file(out) == {"bad2.jpg": 2}  # the file still there: retried, its rows kept
    assert ok_by_file(out)["a.png"] == 2
    report, export = report_and_export(out, tmp_path)
    assert (report["errors"], export["error_rows_excluded"]) == (1, 2)  # bad.jpg is no longer counted

    (mix / "sub" / "bad2.jpg").unlink()
    code, third, stderr = caption(model, mix, "-o", out)
    assert (code, third["gone_errors"], third["error"], third["ok"]) == (0, 2, 0, 0), stderr  # exit 0 at last
    assert errors_by_file(out) == {}
    report, export = report_and_export(out, tmp_path)
    assert (report["errors"], export["error_rows_excluded"]) == (0, 0)
    code, fourth, stderr = caption(model, mix, "-o", out)
    assert (code, fourth["gone_errors"], fourth["skipped"]) == (0, 0, 4) and "no longer there" not in stderr


SPELLINGS = {  # (folder to run from, spelling of the INPUT)
    "relative": ("data", "mix"),
    "absolute": ("elsewhere", "ABS"),
    "symlinked folder": ("data", "link"),
    "symlink from elsewhere": ("elsewhere", "../data/link/"),
    "dotted": ("data", "./mix/../mix/"),
}


@pytest.mark.parametrize(
    ("first", "second"),
    [("relative", "absolute"), ("absolute", "symlinked folder"), ("symlink from elsewhere", "dotted")],
)
def test_the_input_spelled_another_way_still_drops_only_the_deleted_files_rows(
    model, data, tmp_path, monkeypatch, first, second
):
    out = tmp_path / "out"

    def run() -> tuple[int, dict, str]:
        cwd, spelling = SPELLINGS[spelling_name]
        monkeypatch.chdir(tmp_path / cwd)
        return caption(model, str(data / "mix") if spelling == "ABS" else spelling, "-o", out, prompts=PROMPTS[:1])

    spelling_name = first
    assert run()[1]["error"] == 2
    (data / "mix" / "bad.jpg").unlink()
    spelling_name = second
    code, again, stderr = run()
    assert (code, again["gone_errors"], again["error"], again["skipped"]) == (9, 1, 1, 3), stderr
    assert errors_by_file(out) == {"bad2.jpg": 1}
    spelling_name = first
    assert run()[1]["gone_errors"] == 0 and errors_by_file(out) == {"bad2.jpg": 1}


def test_files_a_run_leaves_out_keep_their_rows_while_deleted_ones_go(model, data, tmp_path):
    """A file still on disk that this run does not look at (named before and not now, hidden,
    not an image, outside the INPUT folders, a --glob run) keeps its error rows."""
    mix, out = data / "mix", tmp_path / "out"
    (mix / "notes.txt").write_text("not a picture")
    (mix / ".hidden.jpg").write_bytes(CORRUPT + b"hidden")
    code, first, _ = caption(model, mix, mix / "notes.txt", mix / ".hidden.jpg", "-o", out, prompts=PROMPTS[:1])
    assert errors_by_file(out) == {"bad.jpg": 1, "bad2.jpg": 1, "notes.txt": 1, ".hidden.jpg": 1}
    (mix / "bad.jpg").unlink()

    code, sub, _ = caption(model, mix / "sub", "-o", out, prompts=PROMPTS[:1])  # bad.jpg is not under mix/sub
    assert sub["gone_errors"] == 0 and errors_by_file(out)["bad.jpg"] == 1
    code, globbed, _ = caption(model, "--glob", f"{mix}/**/*.png", "-o", out, prompts=PROMPTS[:1])  # no INPUT folder
    assert globbed["gone_errors"] == 0 and errors_by_file(out)["bad.jpg"] == 1

    code, walked, stderr = caption(model, mix, "-o", out, prompts=PROMPTS[:1])  # notes.txt, .hidden.jpg: not walked
    assert (walked["gone_errors"], walked["error"]) == (1, 1), stderr
    assert errors_by_file(out) == {"bad2.jpg": 1, "notes.txt": 1, ".hidden.jpg": 1}


def shard_errors(out: Path) -> dict[str, set[str]]:
    """Output shard label ("" unsharded) -> the names of the files with error rows in its shards."""
    from vlmcli.sinks.shard_files import parse_shard_name

    found: dict[str, set[str]] = {}
    for shard in sorted(out.glob("*.parquet")):
        label = parse_shard_name(shard.name)[0]
        import pyarrow.parquet as pq

        names = {Path(r["path"]).name for r in pq.read_table(shard).to_pylist() if r["status"] == "error"}
        found.setdefault(label, set()).update(names)
    return found


def test_a_shard_job_drops_only_from_its_own_shards(model, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    save_photo(photos / "a.png")
    for i in range(6):  # corrupt pictures of different content: split between the two jobs by their hash
        (photos / f"bad{i}.jpg").write_bytes(CORRUPT + bytes([i]))
    out = tmp_path / "out"
    for job in ("0/2", "1/2"):
        caption(model, photos, "-o", out, "--shard", job, prompts=PROMPTS[:1])
    held = shard_errors(out)
    assert held["s0of2"] and held["s1of2"] and not held["s0of2"] & held["s1of2"], held
    mine, theirs = min(held["s1of2"]), min(held["s0of2"])
    (photos / mine).unlink()
    (photos / theirs).unlink()
    others = {p.name: p.read_bytes() for p in out.glob("s0of2-*")}

    code, again, stderr = caption(model, photos, "-o", out, "--shard", "1/2", prompts=PROMPTS[:1])
    assert again["gone_errors"] == 1, stderr
    assert mine not in shard_errors(out)["s1of2"] and theirs in shard_errors(out)["s0of2"]
    assert {p.name: p.read_bytes() for p in out.glob("s0of2-*")} == others  # the other job's shards untouched

    code, unsharded, stderr = caption(model, photos, "-o", out, prompts=PROMPTS[:1])  # owns every shard
    assert unsharded["gone_errors"] == 1 and theirs not in set().union(*shard_errors(out).values()), stderr
