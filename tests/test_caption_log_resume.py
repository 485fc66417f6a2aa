"""`vlm caption-dir` in a batch job: resume whatever the spelling of the paths, progress lines in
a log file, shards published on a timer, and a summary that only rates what was captioned.

Issue 15, items 1 and 2: a rerun from another folder, with an absolute path, `./mix`,
`mix/../mix` or through a symlinked folder redoes nothing, retries error rows once and
never leaves two rows for one (file, prompt); with stderr not a terminal a plain line is
written every `--log-every` seconds; a shard is published at least every `--flush-seconds`.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.testing.fakes import FakeEngine, install_fake_engine, isolate_env, save_photo
from vlmcli.cli import app
from vlmcli.commands import _runtime
from vlmcli.commands.caption_dir import EXIT_SOME_FAILED

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ("Describe.", "List the objects.")
GOOD = ("a.png", "b.jpg", "sub/c.png")
runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def data(tmp_path) -> Path:
    """data/mix: three photos and a corrupt file; data/link -> mix (a symlinked folder)."""
    root = tmp_path / "data"
    mix = root / "mix"
    (mix / "sub").mkdir(parents=True)
    save_photo(mix / "a.png")
    save_photo(mix / "b.jpg", "chelsea")
    save_photo(mix / "sub" / "c.png", "coffee")
    (mix / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00garbage" * 10)
    os.symlink(mix, root / "link")
    (tmp_path / "elsewhere").mkdir()
    return root


def read_rows(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return [r for f in sorted(out.glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


def caption(*args: str) -> tuple[object, dict]:
    prompts = [a for p in PROMPTS for a in ("-p", p)]
    result = runner.invoke(app, ["caption-dir", *map(str, args), *prompts, "--json"])
    return result, (json.loads(result.stdout) if result.stdout.strip() else {})


def one_row_per_item(rows: list[dict], mix: Path, *, legacy: bool = False) -> dict[tuple[str, str], dict]:
    """Rows by (file, prompt), asserting there is exactly one per item and the path is resolved
    (`legacy`: rows of older versions keep the path they were stored with: resolve it here)."""
    if legacy:
        from vlmcli.sinks.identity import resolved_path

        rows = [{**r, "path": resolved_path(r["path"])} for r in rows]
    items = Counter((r["path"], r["prompt"]) for r in rows)
    assert max(items.values()) == 1, [k for k, n in items.items() if n > 1]
    expected = {str(mix.resolve() / name) for name in (*GOOD, "corrupt.jpg")}
    assert {path for path, _ in items} == expected  # absolute and resolved, whatever the spelling
    return {(r["path"], r["prompt"]): r for r in rows}


def test_every_spelling_of_the_input_is_the_same_item(monkeypatch, data, tmp_path):
    mix, out = data / "mix", tmp_path / "out"
    monkeypatch.chdir(data)
    fake = install_fake_engine(monkeypatch)
    result, summary = caption("mix", "-o", out)
    assert result.exit_code == EXIT_SOME_FAILED, result.output
    assert (summary["ok"], summary["error"], summary["skipped"]) == (6, 2, 0)
    assert len(fake.requests) == 6
    first = one_row_per_item(read_rows(out), mix)

    spellings = [
        (tmp_path / "elsewhere", str(mix)),  # absolute, from another folder
        (data, "./mix"),
        (data, "mix/../mix"),
        (data, "link"),  # a symlinked folder
        (tmp_path / "elsewhere", "../data/link/"),
        (data / "mix" / "sub", ".."),
    ]
    for cwd, spelling in spellings:
        monkeypatch.chdir(cwd)
        fake = install_fake_engine(monkeypatch)
        result, summary = caption(spelling, "-o", out)
        assert result.exit_code == EXIT_SOME_FAILED, (spelling, result.output)
        assert fake.engines == [] or fake.requests == [], spelling  # nothing captioned again
        # the error rows are retried once (and replaced), the finished items skipped
        assert (summary["ok"], summary["error"], summary["skipped"]) == (0, 2, 6), spelling
        assert summary["items_per_s"] == 0 and summary["captioned"] == 0  # error rows are no throughput
        rows = one_row_per_item(read_rows(out), mix)
        for (path, prompt), row in rows.items():
            if row["status"] == "ok":
                assert row["created_at"] == first[(path, prompt)]["created_at"]  # untouched
            else:
                assert row["created_at"] > first[(path, prompt)]["created_at"]  # redone

    # several spellings of one folder in one run: each file once
    monkeypatch.chdir(data)
    other = tmp_path / "other"
    install_fake_engine(monkeypatch)
    result, summary = caption("mix", str(mix), "./link", "link/sub/c.png", "-o", other)
    assert (summary["ok"], summary["error"]) == (6, 2), result.output
    one_row_per_item(read_rows(other), mix)


def test_rows_stored_as_typed_by_older_versions_resume_and_leftovers_go(monkeypatch, data, tmp_path):
    """Older versions stored the path as typed: relative to the folder the job ran in, or
    through a symlinked folder; and a rerun in another spelling left a second row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vlmcli.sinks.schema import arrow_schema

    mix, out = data / "mix", tmp_path / "out"
    monkeypatch.chdir(data)
    install_fake_engine(monkeypatch)
    caption("mix", "-o", out)
    rows = read_rows(out)
    spelled = {
        "a.png": ["mix/a.png"],  # relative, as typed
        "b.jpg": [str(data / "link" / "b.jpg")],  # through the symlinked folder
        "sub/c.png": ["mix/sub/c.png", str(mix / "sub" / "c.png")],  # twice: the old bug
        "corrupt.jpg": ["mix/corrupt.jpg", str(data / "link" / "corrupt.jpg")],  # two error rows
    }
    legacy = []
    for row in rows:
        name = os.path.relpath(row["path"], mix)
        legacy += [{**row, "path": path} for path in spelled[name]]
    b_ok = next(r for r in legacy if r["path"].endswith("b.jpg"))
    legacy.append({**b_ok, "path": "mix/b.jpg", "status": "error", "caption": None, "error": "old failure"})
    for shard in out.glob("*.parquet"):
        shard.unlink()
    pq.write_table(pa.Table.from_pylist(legacy, schema=arrow_schema()), out / "part-00000.parquet")

    fake = install_fake_engine(monkeypatch)
    result, summary = caption("mix", "-o", out)
    assert result.exit_code == EXIT_SOME_FAILED, result.output
    assert fake.engines == [] or fake.requests == []
    assert (summary["ok"], summary["error"], summary["skipped"]) == (0, 2, 6)
    after = one_row_per_item(read_rows(out), mix, legacy=True)
    assert sum(r["status"] == "error" for r in after.values()) == 2  # corrupt.jpg, once per prompt
    b = [r for (path, _), r in after.items() if path.endswith("b.jpg")]
    assert [r["status"] for r in b] == ["ok", "ok"]  # the leftover error row beside the ok row is gone


def test_the_summary_rates_only_what_was_captioned(monkeypatch, data, tmp_path):
    out = tmp_path / "out"
    install_fake_engine(monkeypatch)
    caption(data / "mix", "-o", out)
    (data / "mix" / "corrupt.jpg").unlink()
    for i in range(20):  # new paths, content already captioned: copied, no model call
        (data / "mix" / f"copy{i}.png").write_bytes((data / "mix" / "a.png").read_bytes())
    fake = install_fake_engine(monkeypatch)
    prompts = ("-p", PROMPTS[0], "-p", PROMPTS[1])
    result = runner.invoke(app, ["caption-dir", str(data / "mix"), "-o", str(out), *prompts])
    assert result.exit_code == 0, result.output
    assert fake.engines == []  # nothing to caption: the model is not even loaded
    line = next(line for line in result.stderr.splitlines() if line.startswith("Done:"))
    assert line.startswith("Done: 40 ok, 0 errors, 6 skipped as already done (40 copied from earlier rows) in")
    assert "images/s" not in line  # no rate: nothing was captioned
    again, summary = caption(data / "mix", "-o", out)
    assert (summary["ok"], summary["skipped"], summary["captioned"], summary["images_per_s"]) == (0, 46, 0, 0)


def test_log_lines_say_done_total_counts_rate_and_eta():
    from vlmcli.captions.progress import LogProgress

    now = [100.0]
    stream = io.StringIO()
    progress = LogProgress(every=1000, stream=stream, clock=lambda: now[0])
    ok, bad = {"status": "ok"}, {"status": "error"}
    progress.scanning(12)
    for _ in range(12):
        progress.scanned()
    assert progress.line() == "Reading: 12/12 files read; planning 0s"
    now[0] += 60  # a dry run loads the processor and times a batch: the line says so, not "12/12" again
    assert progress.line() == "Reading: 12/12 files read; planning 1m00s"
    progress.start(110, note=" (5 already done)", skipped=5, prompts=2)
    progress.advance([ok] * 10, captioned=False)  # copies: instant, not a rate
    assert "waiting for the first batch" in progress.line()
    now[0] += 30  # the model loads
    progress.advance([ok, bad] * 5)
    now[0] += 10
    progress.advance([ok] * 20)  # 20 rows in 10 s after the first batch: 2 rows/s = 1 image/s
    assert progress.line() == "Captioning: 40/110 done (35 ok, 5 errors; 5 already done); 1.00 images/s; ETA 35s"
    progress.close()
    assert stream.getvalue().splitlines() == [
        "Reading 12 files (hashing each once)",
        "Captioning 110 items (5 already done)",
        "Captioning: 40/110 done (35 ok, 5 errors; 5 already done); 1.00 images/s; ETA 35s",
    ]


def test_the_rate_counts_what_the_run_captions():
    from vlmcli.captions.progress import LogProgress
    from vlmcli.captions.summary import Summary, rate_unit

    assert rate_unit(["image", "image"]) == "images" and rate_unit([]) == "images"
    assert rate_unit(["video"]) == "videos" and rate_unit(["video", "image"]) == "items"
    now = [0.0]
    progress = LogProgress(every=1000, stream=io.StringIO(), clock=lambda: now[0])
    progress.start(10, unit="videos")
    now[0] += 4
    progress.advance([{"status": "ok"}] * 2)
    assert progress.line().endswith("; 0.50 videos/s; ETA 16s")
    progress.retotal(10, unit="items")  # a later shard held pictures too
    assert "0.50 items/s" in progress.line()
    done = Summary(ok=2, captioned=2, unit="videos", prompts=2, caption_started=0.0, finished=4.0, started=0.0)
    assert "; 0.25 videos/s (0.50 video-prompt pairs/s)" in done.text() and done.to_dict()["rate_unit"] == "videos"


def test_a_run_of_clips_reports_videos_per_second(monkeypatch, tmp_path):
    from vlmcli.testing.media.video_clips import clip_set

    install_fake_engine(monkeypatch)
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.mp4").write_bytes(clip_set().motion.path.read_bytes())
    result = runner.invoke(app, ["caption-dir", str(tmp_path / "clips"), "-o", str(tmp_path / "out"), "--videos", "--frames", "2"])
    assert result.exit_code == 0, result.output
    assert "videos/s" in result.stderr and "images/s" not in result.stderr


def test_a_shard_is_published_while_a_long_batch_runs(monkeypatch, data, tmp_path):
    out, published = tmp_path / "out", []

    class Slow(FakeEngine):
        def generate(self, requests, gen):
            if self.calls:  # a long batch: the rows of the first wait in the buffer, unless the timer publishes them
                deadline = time.monotonic() + 10
                while not read_rows(out) and time.monotonic() < deadline:
                    time.sleep(0.02)
                published.append(len(read_rows(out)))
            return super().generate(requests, gen)

    monkeypatch.setattr(_runtime, "load_engine", Slow)
    monkeypatch.setattr(_runtime, "check_model", lambda config, **_: None)  # no model on disk, no hub lookup
    args = [data / "mix", "-o", out, "--batch-size", "1", "--flush-seconds", "0.2", "-q"]
    result = runner.invoke(app, ["caption-dir", *map(str, args)])
    assert result.exit_code == EXIT_SOME_FAILED, result.output
    assert published and published[0] >= 1  # the first batch's row was in a shard during the second batch
    assert len(read_rows(out)) == 4


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_log_file_progress_and_a_shard_before_the_end(tiny_checkpoint, tmp_path):
    """A real run on a tiny checkpoint with stderr in a file: killed right after the first timed
    flush it leaves a readable shard; the rerun logs several plain lines and resumes."""
    from PIL import Image
    from skimage import data as photos

    folder = tmp_path / "photos"
    folder.mkdir()
    base = Image.fromarray(photos.astronaut()).resize((64, 64))
    for i in range(16):
        base.rotate(i * 20).save(folder / f"p{i:02d}.png")
    out = tmp_path / "out"
    model = tiny_checkpoint("qwen2_vl")
    args = [sys.executable, "-m", "vlmcli", "caption-dir", str(folder), "-o", str(out), "-m", str(model)]
    args += ["--batch-size", "1", "--max-tokens", "6", "--flush-seconds", "0.2", "--log-every", "0.3"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLM_")}
    env |= {"PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "HF_HUB_OFFLINE": "1"}

    with open(tmp_path / "first.log", "wb") as log:
        proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 120
        while proc.poll() is None and not list(out.glob("*.parquet")) and time.monotonic() < deadline:
            time.sleep(0.01)
        running = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert running, (tmp_path / "first.log").read_text()[-2000:]  # the shard came before the end
    kept = read_rows(out)  # every published shard reads
    assert 1 <= len(kept) < 16 and all(r["status"] == "ok" for r in kept)

    with open(tmp_path / "second.log", "wb") as log:
        done = subprocess.run(args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=log, timeout=300)
    text = (tmp_path / "second.log").read_text()
    assert done.returncode == 0, text[-2000:]
    lines = text.splitlines()
    assert f"Captioning {16 - len(kept)} items ({len(kept)} already done)" in lines
    ticks = [line for line in lines if line.startswith("Captioning: ")]
    assert len(ticks) >= 3, text  # the start line, timed lines, the end line
    assert ticks[-1].startswith(f"Captioning: {16 - len(kept)}/{16 - len(kept)} done ({16 - len(kept)} ok, 0 errors")
    assert any("images/s" in line for line in lines)  # timed lines once the first rows end; the summary line
    done_line = f"Done: {16 - len(kept)} ok, 0 errors, {len(kept)} skipped as already done"
    assert any(line.startswith(done_line) for line in lines)
    final = read_rows(out)
    assert sorted(Path(r["path"]).name for r in final) == sorted(p.name for p in folder.iterdir())


def test_the_log_rate_is_not_timed_over_one_burst_and_the_last_line_leaves_it_to_the_summary():
    """8 rows ending 0.15 s after the first one logged "46.19 images/s" as the final line,
    above a summary of 1.44 images/s for the same run."""
    from vlmcli.captions.progress import LogProgress

    now = [0.0]
    stream = io.StringIO()
    progress = LogProgress(every=1000, stream=stream, clock=lambda: now[0])
    progress.start(16)
    now[0] += 4  # the model loads, the first batch runs
    progress.advance([{"status": "ok"}])
    now[0] += 0.15
    progress.advance([{"status": "ok"}] * 7)  # a burst: not a rate of 46 rows/s
    assert progress.line().endswith("; 1.93 images/s; ETA 4s")  # 8 rows in 4.15 s since captioning began
    now[0] += 10
    progress.advance([{"status": "ok"}] * 8)
    progress.close()
    assert stream.getvalue().splitlines()[-1] == "Captioning: 16/16 done (16 ok, 0 errors)"
