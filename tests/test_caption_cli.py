"""`vlm caption-dir` end to end with the fake engine: rows, errors, resume, duplicates,
formats, shards, summary, exit codes, Ctrl-C, dry run, path safety."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.testing.fakes import FakeEngine, install_fake_engine, isolate_env, save_photo
from vlmcli.cli import app
from vlmcli.commands import _runtime
from vlmcli.commands.caption_dir import EXIT_SOME_FAILED
from vlmcli.sinks import FIELDS
from vlmcli.sinks.jsonl import from_json_line

runner = CliRunner()
GOOD = ["a.jpg", "b.png", "c.jpg", "dup_of_a.jpg", "sub/d.webp"]
BAD = ["corrupt.jpg", "truncated.jpg", "empty.png", "huge.png", "dangling.jpg"]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    monkeypatch.setenv("VLM_MAX_IMAGE_PIXELS", "700000")


@pytest.fixture
def photos(tmp_path) -> Path:
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    save_photo(root / "a.jpg")
    save_photo(root / "b.png", "chelsea")
    save_photo(root / "c.jpg", "coffee")
    (root / "dup_of_a.jpg").write_bytes((root / "a.jpg").read_bytes())
    save_photo(root / "sub" / "d.webp", "camera")
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00garbage" * 10)
    (root / "truncated.jpg").write_bytes((root / "c.jpg").read_bytes()[:3000])
    (root / "empty.png").write_bytes(b"")
    from PIL import Image

    Image.new("RGB", (1000, 1000), "red").save(root / "huge.png")
    os.symlink(root / "nowhere.jpg", root / "dangling.jpg")
    (root / "README.md").write_text("not an image, ignored")
    return root


def read_rows(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    files = sorted(out.glob("*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def invoke(*args: str, **kwargs):
    return runner.invoke(app, ["caption-dir", *map(str, args)], **kwargs)


def by_path(rows, root):
    return {os.path.relpath(r["path"], root): r for r in rows}


def test_parquet_rows_errors_duplicates_and_resume(monkeypatch, photos, tmp_path):
    fake = install_fake_engine(monkeypatch)
    out = tmp_path / "out"
    result = invoke(photos, "-o", out, "--batch-size", "2", "-q")
    assert result.exit_code == EXIT_SOME_FAILED, result.output
    assert result.stdout == "" and result.stderr == ""
    rows = read_rows(out)
    assert all(list(r) == list(FIELDS) for r in rows)
    table = by_path(rows, photos)
    assert sorted(table) == sorted(GOOD + BAD)  # every file once; README ignored
    assert {p for p, r in table.items() if r["status"] == "ok"} == set(GOOD)
    for name in BAD:
        r = table[name]
        assert r["status"] == "error" and r["caption"] is None and "\n" not in r["error"]
    assert "damaged or truncated" in table["truncated.jpg"]["error"]
    assert "empty" in table["empty.png"]["error"] and "above the limit" in table["huge.png"]["error"]
    assert table["huge.png"]["width"] == 1000 and table["dangling.jpg"]["key"] is None
    # duplicates: captioned once, each path has its own row with the same caption and key
    sent = [Path(r.images[0].source).name for r in fake.requests]
    assert sorted(sent) == sorted(Path(p).name for p in GOOD if p != "dup_of_a.jpg")
    assert table["dup_of_a.jpg"]["caption"] == table["a.jpg"]["caption"]
    assert table["dup_of_a.jpg"]["key"] == table["a.jpg"]["key"]
    assert all(len(requests) <= 2 for requests, _ in fake.engine.calls)
    ok = table["a.jpg"]
    assert ok["width"] == 512 and ok["visual_tokens"] == 64 and ok["completion_tokens"] > 0 and ok["latency_ms"] >= 0
    assert ok["model"] == "HuggingFaceTB/SmolVLM2-256M-Video-Instruct" and len(ok["config_hash"]) == 16

    # rerun: ok rows skipped, error rows retried (and replaced, not duplicated)
    fake = install_fake_engine(monkeypatch)
    result = invoke(photos, "-o", out, "--json", "-q")
    assert result.exit_code == EXIT_SOME_FAILED
    summary = json.loads(result.stdout)
    assert (summary["ok"], summary["error"], summary["skipped"]) == (0, len(BAD), len(GOOD))
    assert fake.requests == []
    rows = read_rows(out)
    assert sorted(by_path(rows, photos)) == sorted(GOOD + BAD) and len(rows) == len(GOOD + BAD)

    # fix the broken files: the rerun captions only them and exits 0
    for name in BAD:
        os.remove(photos / name)
    save_photo(photos / "new.jpg", "rocket")
    (photos / "copy_of_c.jpg").write_bytes((photos / "c.jpg").read_bytes())
    fake = install_fake_engine(monkeypatch)
    result = invoke(photos, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    assert [Path(r.images[0].source).name for r in fake.requests] == ["new.jpg"]
    assert "Done: 2 ok, 0 errors, 5 skipped" in result.stderr
    table = by_path(read_rows(out), photos)
    assert table["copy_of_c.jpg"]["caption"] == table["c.jpg"]["caption"]  # copied from the earlier run
    assert sum(r["status"] == "ok" for r in table.values()) == len(GOOD) + 2

    # nothing left: the model is never loaded
    fake = install_fake_engine(monkeypatch)
    assert invoke(photos, "-o", out, "-q").exit_code == 0
    assert fake.engines == []


def test_several_prompts_jsonl_and_batches_grouped_by_size(monkeypatch, tmp_path):
    from PIL import Image

    root = tmp_path / "mixed"
    root.mkdir()
    for i in range(3):
        Image.new("RGB", (40 + i, 40), "white").save(root / f"small{i}.png")
        Image.new("RGB", (800 + i, 600), "black").save(root / f"large{i}.png")
    prompt_file = tmp_path / "prompts.txt"
    prompt_file.write_text("Third prompt.\n")
    fake = install_fake_engine(monkeypatch)
    out = tmp_path / "out"
    args = [root, "-o", out, "--format", "jsonl", "-p", "First.", "-p", "Second.", "--prompt-file", prompt_file]
    result = invoke(*args, "--batch-size", "3", "--rows-per-file", "5", "-q")
    assert result.exit_code == 0, result.output
    files = sorted(p for p in out.iterdir() if not p.name.endswith(".lock"))  # the run's lock files stay
    assert [f.name for f in files] == [f"part-{i:05d}.jsonl" for i in range(4)]
    rows = [from_json_line(line) for f in files for line in f.read_text().splitlines()]
    assert len(rows) == 18 and len({(r["path"], r["prompt"]) for r in rows}) == 18
    assert len({r["config_hash"] for r in rows}) == 3
    for requests, _ in fake.engine.calls:  # no batch mixes small and large images
        assert len({"small" in r.images[0].source for r in requests}) == 1
    assert invoke(*args, "-q").exit_code == 0 and len(list(out.glob("part-*"))) == 4  # resumed: nothing new

    again = invoke(*args, "-o", tmp_path / "again", "--batch-size", "3", "--json", "-q")
    summary = json.loads(again.stdout)  # the planned batches are reported, as the engine saw them
    sizes = [len(requests) for requests, _ in fake.engine.calls[-summary["batches"] :]]
    assert summary["batches"] == 6 and summary["largest_batch"] == 3 == max(sizes) and summary["mean_batch"] == 3.0


def test_txt_sidecars_refuse_skip_overwrite(monkeypatch, tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    save_photo(root / "a.jpg")
    save_photo(root / "b.png", "chelsea")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff junk")
    install_fake_engine(monkeypatch)
    result = invoke(root, "--format", "txt")
    assert result.exit_code == EXIT_SOME_FAILED
    assert (root / "a.txt").read_text().startswith(f"Saw {root / 'a.jpg'}")
    assert not (root / "broken.txt").exists()
    assert f"error: {root / 'broken.jpg'}" in result.stderr
    result = invoke(root, "--format", "txt")
    assert result.exit_code == 8 and "--skip-existing" in result.stderr
    fake = install_fake_engine(monkeypatch)
    assert invoke(root, "--format", "txt", "--skip-existing", "-q").exit_code == EXIT_SOME_FAILED
    assert [Path(r.images[0].source).name for r in fake.requests] == []
    (root / "a.txt").write_text("hand-written\n")
    assert invoke(root, "--format", "txt", "--overwrite", "-q", "-p", "Other.").exit_code == EXIT_SOME_FAILED
    assert (root / "a.txt").read_text().endswith("asked: Other.\n")


def test_shards_are_disjoint_and_cover_everything(monkeypatch, photos, tmp_path):
    install_fake_engine(monkeypatch)
    whole = tmp_path / "whole"
    invoke(photos, "-o", whole, "-q", "-p", "x", "-p", "y")
    split = tmp_path / "split"
    for i in range(3):
        result = invoke(photos, "-o", split, "-q", "-p", "x", "-p", "y", "--shard", f"{i}/3")
        assert result.exit_code in (0, EXIT_SOME_FAILED)
    parts = sorted(p.name for p in split.iterdir() if not p.name.endswith(".lock"))
    assert sorted(p.name for p in split.glob(".vlm-run*.lock")) == [".vlm-run-s0of3.lock", ".vlm-run-s1of3.lock", ".vlm-run-s2of3.lock", ".vlm-run.lock"]
    assert all(p.startswith(("s0of3-", "s1of3-", "s2of3-")) for p in parts)
    keyed = lambda rows: sorted((r["path"], r["prompt"], r["status"], r["caption"]) for r in rows)  # noqa: E731
    assert keyed(read_rows(split)) == keyed(read_rows(whole))  # complete, and no duplicates


def test_output_names_never_come_from_input_paths(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    work = tmp_path / "work"
    (work / "deep").mkdir(parents=True)
    save_photo(tmp_path / "outside.jpg")
    listing = work / "list.txt"
    listing.write_bytes(f"../outside.jpg\0{tmp_path / 'outside.jpg'}\0../../etc/passwd\0".encode())
    before = set(tmp_path.rglob("*"))
    os.chdir(work / "deep")
    try:
        result = invoke("--files-from", listing, "-o", "out", "-q")
    finally:
        os.chdir(tmp_path)
    assert result.exit_code == EXIT_SOME_FAILED  # ../../etc/passwd: not an image (or missing)
    created = set(tmp_path.rglob("*")) - before
    assert {p.relative_to(work / "deep") for p in created} == {Path("out"), Path("out/part-00000.parquet"), Path("out/.vlm-run.lock")}


def test_ctrl_c_flushes_finished_batches_and_exits_130(monkeypatch, photos, tmp_path):
    class Interrupting(FakeEngine):
        def generate(self, requests, gen):
            if len(self.calls) == 2:
                raise KeyboardInterrupt
            return super().generate(requests, gen)

    monkeypatch.setattr(_runtime, "load_engine", Interrupting)
    monkeypatch.setattr(_runtime, "check_model", lambda config, **_: None)  # no model on disk, no hub lookup
    out = tmp_path / "out"
    result = invoke(photos, "-o", out, "--batch-size", "1", "--json")
    assert result.exit_code == 130
    assert "Interrupted" in result.stderr
    assert json.loads(result.stdout)["interrupted"] is True
    rows = read_rows(out)
    assert sum(r["status"] == "ok" for r in rows) in (2, 3)  # two engine calls (one may carry the duplicate)
    install_fake_engine(monkeypatch)
    assert invoke(photos, "-o", out, "-q").exit_code == EXIT_SOME_FAILED
    assert sorted(by_path(read_rows(out), photos)) == sorted(GOOD + BAD)


def test_a_second_ctrl_c_during_the_last_flush_loses_nothing(monkeypatch, photos, tmp_path):
    """Ctrl-C pressed twice: the second one cut the flush of the finished rows in half (rows
    left in a temp file, deleted by the next run) while the summary counted them as ok."""
    import signal

    from vlmcli.sinks.parquet import ParquetSink

    class Interrupting(FakeEngine):
        def generate(self, requests, gen):
            if len(self.calls) == 2:
                raise KeyboardInterrupt
            return super().generate(requests, gen)

    real_write = ParquetSink.write_file

    def pressed_again(self, path, rows):
        os.kill(os.getpid(), signal.SIGINT)  # while the rows are being written
        return real_write(self, path, rows)

    monkeypatch.setattr(ParquetSink, "write_file", pressed_again)
    monkeypatch.setattr(_runtime, "load_engine", Interrupting)
    monkeypatch.setattr(_runtime, "check_model", lambda config, **_: None)  # no model on disk, no hub lookup
    out = tmp_path / "out"
    result = invoke(photos, "-o", out, "--batch-size", "1", "--flush-seconds", "1000", "--json")
    assert result.exit_code == 130, result.output
    summary = json.loads(result.stdout)
    assert summary["interrupted"] is True and len(read_rows(out)) == summary["ok"] + summary["error"] >= 2
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert "Run the same command to carry on: what was finished is kept and not done again." in result.stderr


def test_dry_run_counts_and_writes_nothing(monkeypatch, photos, tmp_path):
    fake = install_fake_engine(monkeypatch)
    out = tmp_path / "out"
    result = invoke(photos, "-o", out, "--dry-run", "--json", "-q", "-p", "a", "-p", "b")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["files"] == len(GOOD + BAD) and report["ignored"] == 1 and report["prompts"] == 2
    assert report["rows"] == 2 * len(GOOD + BAD) and report["requests"] == 2 * (len(GOOD) - 1 + 2)
    assert report["known_errors"] == 2 * 3  # empty, dangling and corrupt (no header a decoder reads): known before decoding
    assert report["counts"] == {"images": 7, "unreadable": 3, "videos": 0, "videos_skipped": 0, "ignored": 1, "documents_skipped": 0, "animations": 0}
    assert report["estimate"]["source"].startswith("measured on 1 batch") and report["estimate"]["seconds"] >= 0
    assert len(fake.requests) == 1 + report["estimate"]["calibration"]["requests"] and not out.exists()  # warm-up + 1 batch
    text = invoke(photos, "-o", out, "--dry-run", "-q")
    assert "Estimated time" in text.stderr and text.stdout == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (["--overwrite"], "apply to --format txt"),
        (["--format", "txt", "--overwrite", "--skip-existing"], "contradict"),
        (["--format", "txt", "-p", "a", "-p", "b"], "one prompt"),
        (["--concurrency", "2"], "--engine ray"),
        (["--shard", "3/3"], "--shard"),
        (["--format", "txt", "-o", "x"], "drop --output"),
        (["-p", " "], "empty"),
    ],
)
def test_bad_flags_fail_fast_with_exit_2(monkeypatch, photos, args, message):
    fake = install_fake_engine(monkeypatch)
    result = invoke(photos, *(["-o", "out"] if "txt" not in args else []), *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and fake.engines == []


def test_missing_inputs_and_folders_without_images(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    assert invoke(tmp_path / "nope", "-o", tmp_path / "o").exit_code == 3
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    result = invoke(tmp_path / "empty", "-o", tmp_path / "o")
    assert result.exit_code == 3 and "No images" in result.stderr
    result = invoke("-o", tmp_path / "o")
    assert result.exit_code == 2 and "Nothing to caption" in result.stderr
    assert not (tmp_path / "o").exists()  # a run that wrote nothing leaves no folder (nor its lock) behind
    kept = tmp_path / "kept"
    kept.mkdir()
    assert invoke(tmp_path / "nope", "-o", kept).exit_code == 3 and kept.is_dir()  # one that was there stays


def test_ray_missing_says_what_to_install(monkeypatch, photos, tmp_path):
    import sys

    install_fake_engine(monkeypatch)
    monkeypatch.setitem(sys.modules, "ray", None)
    result = invoke(photos, "-o", tmp_path / "out", "--engine", "ray", "-q")
    assert result.exit_code == 7
    assert "pip install 'vlmcli[ray]'" in result.stderr


def test_progress_and_summary_go_to_stderr(monkeypatch, photos, tmp_path):
    install_fake_engine(monkeypatch)
    result = invoke(photos, "-o", tmp_path / "out")
    assert result.stdout == ""
    assert "Captioning" in result.stderr and "images/s" in result.stderr
    assert f"Done: {len(GOOD)} ok, {len(BAD)} errors, 0 skipped" in result.stderr


def test_files_from_stdin_nul_separated(monkeypatch, photos, tmp_path):
    fake = install_fake_engine(monkeypatch)
    listing = f"{photos / 'a.jpg'}\0{photos / 'c.jpg'}\0{photos / 'README.md'}\0".encode()
    result = invoke("--files-from", "-", "-o", tmp_path / "out", "-q", input=listing)
    assert result.exit_code == EXIT_SOME_FAILED  # README.md was named explicitly: an error row
    table = by_path(read_rows(tmp_path / "out"), photos)
    assert {k: v["status"] for k, v in table.items()} == {"a.jpg": "ok", "c.jpg": "ok", "README.md": "error"}
    assert "not an image" in table["README.md"]["error"] and len(fake.requests) == 2


def test_help_imports_nothing_heavy(tmp_path):
    import subprocess
    import sys

    probe = (  # reported at exit: `main` ends the process (os._exit) once atexit handlers ran
        "import atexit, sys, json\n"
        "sys.argv = ['vlm', 'caption-dir', '--help']\n"
        "heavy = ('torch', 'transformers', 'numpy', 'PIL', 'pydantic', 'pyarrow', 'rich', 'ray')\n"
        "atexit.register(lambda: sys.stderr.write(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy))))\n"
        "from vlmcli.cli import main\n"
        "main()\n"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, timeout=60)
    assert done.returncode == 0 and json.loads(done.stderr) == []
    assert b"--files-from" in done.stdout and b"--shard" in done.stdout


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_output_dash_is_refused_not_made_a_folder(monkeypatch, photos, tmp_path, fmt):
    """`-o -` means stdout to a Unix user; shards need a folder, so say so instead of creating ./-."""
    monkeypatch.chdir(tmp_path)
    fake = install_fake_engine(monkeypatch)
    result = invoke(photos, "-o", "-", "--format", fmt)
    assert result.exit_code == 2, result.output
    assert "vlm describe FILES... --json" in result.stderr
    assert not (tmp_path / "-").exists()
    assert fake.engines == []


def test_an_output_named_like_a_file_is_refused_before_anything_runs(monkeypatch, photos, tmp_path):
    """`-o caps.jsonl` made a folder caps.jsonl holding Parquet shards, without a word."""
    fake = install_fake_engine(monkeypatch)
    result = invoke(photos, "-o", tmp_path / "caps.jsonl")
    assert result.exit_code == 2 and fake.engines == []
    assert result.stderr.strip() == (
        f"Error: --output {tmp_path / 'caps.jsonl'} is a folder of parquet shards (caps.jsonl/part-00000.parquet, ...), "
        f"not a .jsonl file: pass --format jsonl, or -o {tmp_path / 'caps'}."
    )
    assert not (tmp_path / "caps.jsonl").exists()
    assert invoke(photos, "-o", tmp_path / "caps.jsonl", "--format", "jsonl", "-q").exit_code == EXIT_SOME_FAILED
    assert list((tmp_path / "caps.jsonl").glob("part-*.jsonl"))  # a folder named as Spark names its output
    (tmp_path / "old.csv").mkdir()  # a folder of that name from an earlier run is a folder
    assert invoke(photos, "-o", tmp_path / "old.csv", "-q").exit_code == EXIT_SOME_FAILED


def test_every_json_summary_field_is_documented():
    from vlmcli.captions.summary import Summary

    docs = (Path(__file__).resolve().parents[1] / "docs" / "caption-dir.md").read_text()
    table = docs.split("`--json` prints the summary as JSON on stdout", 1)[1].split("\n\n", 2)[1]
    missing = [key for key in Summary().to_dict() if f"`{key}`" not in table]
    assert missing == []
