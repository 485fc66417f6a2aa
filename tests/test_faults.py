"""Faults during `caption-dir`: out of memory, a full disk, Ctrl-C (SIGKILL: test_caption_crash.py).

- Out of memory in a batch halves the batch and retries (`vlmcli.captions.oom`); only an
  item that does not fit alone becomes an error row, and later batches start at the size
  that fitted. Tested with injected `torch.OutOfMemoryError` / "CUDA out of memory" errors.
- A write failure (ENOSPC injected into the shard writer, after part of the file was
  written) leaves no file that looks like a complete shard, says what happened in one line
  and exits 8; a rerun completes every item exactly once.
- SIGINT to a real process flushes the finished rows as complete shards and exits 130.
"""

from __future__ import annotations

import errno
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

from vlmcli.testing.fakes import FakeEngine, install_fake_engine, isolate_env
from vlmcli.captions.oom import Halving, is_out_of_memory
from vlmcli.cli import app
from vlmcli.commands import _runtime
from vlmcli.commands.caption_dir import EXIT_SOME_FAILED
from vlmcli.errors import ContextLengthError, ResourceError

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def photos(tmp_path) -> Path:
    from PIL import Image

    root = tmp_path / "photos"
    root.mkdir()
    for i in range(8):
        Image.new("RGB", (40 + i, 40), (30 * i, 80, 160)).save(root / f"img{i}.png")
    return root


def oom() -> BaseException:
    import torch

    return torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


# --- the halving rule ----------------------------------------------------------------------------


def test_is_out_of_memory_recognises_every_spelling():
    wrapped = ResourceError("The device ran out of memory; try --max-pixels.")
    wrapped.__cause__ = oom()
    for exc in (oom(), RuntimeError("CUDA error: out of memory"), MemoryError(), wrapped,
                RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)")):  # fmt: skip
        assert is_out_of_memory(exc), exc
    for exc in (RuntimeError("shape mismatch"), ValueError("out of range"), ContextLengthError("too long")):
        assert not is_out_of_memory(exc), exc


def test_halving_splits_retries_and_learns_the_size():
    calls: list[list[int]] = []

    def call(batch: list[int]) -> list[str]:
        calls.append(batch)
        if len(batch) > 2:
            raise oom()
        return [f"r{i}" for i in batch]

    halving: Halving[int, str] = Halving()
    assert halving.run(list(range(8)), call=call, give_up=lambda i, exc: "lost") == [f"r{i}" for i in range(8)]
    assert calls == [[0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 3], [0, 1], [2, 3], [4, 5, 6, 7], [4, 5], [6, 7]]
    assert halving.limit == 2 and halving.splits == 3
    calls.clear()  # the next batch starts at the size that fitted: no OOM at all
    assert halving.run([8, 9, 10, 11, 12], call=call, give_up=lambda i, exc: "lost") == ["r8", "r9", "r10", "r11", "r12"]
    assert calls == [[8, 9], [10, 11], [12]]


def test_halving_fails_only_the_item_that_does_not_fit_alone():
    def call(batch: list[int]) -> list[str]:
        if 5 in batch:  # item 5 is too large even alone
            raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return [f"r{i}" for i in batch]

    given_up: list[tuple[int, str]] = []

    def give_up(item: int, exc: BaseException) -> str:
        given_up.append((item, str(exc)))
        assert exc.__traceback__ is None  # the failed batch's frames (and tensors) are released
        return "error"

    results = Halving().run(list(range(8)), call=call, give_up=give_up)
    assert results == ["r0", "r1", "r2", "r3", "r4", "error", "r6", "r7"]
    assert [item for item, _ in given_up] == [5] and "out of memory" in given_up[0][1]


def test_halving_lets_other_errors_and_ctrl_c_through():
    for exc in (ContextLengthError("too long"), KeyboardInterrupt()):
        def call(batch, exc=exc):
            raise exc

        with pytest.raises(type(exc)):
            Halving().run([1, 2, 3], call=call, give_up=lambda i, e: "x")


# --- out of memory through caption-dir -----------------------------------------------------------


class OomEngine(FakeEngine):
    """Runs out of memory for batches of more than 2, and for img7.png whatever the batch."""

    sizes: list[int] = []

    def generate(self, requests, gen):
        OomEngine.sizes.append(len(requests))
        if len(requests) > 2 or any(r.images[0].source.endswith("img7.png") for r in requests):
            raise oom()
        return super().generate(requests, gen)


def read_rows(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return [row for shard in sorted(out.glob("*.parquet")) for row in pq.read_table(shard).to_pylist()]


def test_caption_dir_halves_the_batch_on_out_of_memory(monkeypatch, photos, tmp_path):
    OomEngine.sizes = []
    monkeypatch.setattr(_runtime, "load_engine", OomEngine)
    monkeypatch.setattr(_runtime, "check_model", lambda config, **_: None)  # no model on disk, no hub lookup
    out = tmp_path / "out"
    result = runner.invoke(app, ["caption-dir", str(photos), "-o", str(out), "-q", "--batch-size", "4"])
    assert result.exit_code == EXIT_SOME_FAILED, result.output
    rows = {Path(r["path"]).name: r for r in read_rows(out)}
    assert len(rows) == 8
    assert {n for n, r in rows.items() if r["status"] == "error"} == {"img7.png"}
    assert "out of memory even alone" in rows["img7.png"]["error"]
    # batches go largest first: [img7..img4] OOMs; its halves [img7, img6] (OOM: each alone,
    # img7 fails even alone) and [img5, img4] (fits); the second batch is cut to 2 before it runs
    assert OomEngine.sizes == [4, 2, 1, 1, 2, 2, 2]


# --- disk full -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_disk_full_leaves_no_complete_looking_shard(monkeypatch, photos, tmp_path, fmt):
    from vlmcli.sinks.jsonl import JsonlSink
    from vlmcli.sinks.parquet import ParquetSink

    sink_class = ParquetSink if fmt == "parquet" else JsonlSink
    real_write = sink_class.write_file
    written: list[Path] = []

    def write_then_fill_the_disk(self, path, rows):
        written.append(path)
        if len(written) < 2:
            return real_write(self, path, rows)
        with open(path, "wb") as handle:  # part of the file made it to disk, then ENOSPC
            handle.write(b"PAR1\x00\x00" if fmt == "parquet" else b'{"key": "abc", "pa')
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(sink_class, "write_file", write_then_fill_the_disk)
    install_fake_engine(monkeypatch)
    out = tmp_path / "out"
    args = ["caption-dir", str(photos), "-o", str(out), "-q", "--format", fmt, "--batch-size", "2", "--rows-per-file", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 8, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: Cannot write "), result.stderr
    assert "No space left on device" in lines[0] and "Traceback" not in result.stderr
    assert written[1].name.startswith(".") and written[1].name.endswith(".tmp")  # it was a temp file...
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(".lock")) == [f"part-00000.{fmt}"]  # ...and is gone
    first = read_shards(out, fmt)
    assert len(first) == 2

    monkeypatch.setattr(sink_class, "write_file", real_write)  # space again: the rerun completes
    install_fake_engine(monkeypatch)
    assert runner.invoke(app, args).exit_code == 0
    rows = read_shards(out, fmt)
    assert Counter(Path(r["path"]).name for r in rows) == Counter(f"img{i}.png" for i in range(8))


def test_disk_full_under_continuous_batching_stops_the_run(monkeypatch, photos, tmp_path, tiny_checkpoint):
    """The scheduler took a failed write inside its loop for a failed batch: it retried the
    unfinished requests and dropped the finished rows, and the run ended "Done: ... ok", exit 0,
    with most rows missing. A write that fails stops the run (exit 8) as under static batching."""
    from vlmcli.sinks.jsonl import JsonlSink

    real_write = JsonlSink.write_file
    written: list[Path] = []

    def write_then_fill_the_disk(self, path, rows):
        written.append(path)
        if len(written) < 2:
            return real_write(self, path, rows)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(JsonlSink, "write_file", write_then_fill_the_disk)
    out = tmp_path / "out"
    args = ["caption-dir", str(photos), "-o", str(out), "--format", "jsonl", "--rows-per-file", "2", "--max-tokens", "3"]
    result = runner.invoke(app, [*args, "-m", str(tiny_checkpoint("idefics3")), "--json"])
    assert result.exit_code == 8, result.output
    assert "No space left on device" in result.stderr and "Done:" not in result.stderr
    assert len(written) == 2 and len(read_shards(out, "jsonl")) == 2


def test_a_read_only_output_folder_is_an_output_error(monkeypatch, photos, tmp_path):
    """An existing output folder on a read-only disk: "unexpected OSError: [Errno 30]", exit 1."""
    import vlmcli.sinks.lock as lock

    real_open = os.open

    def read_only(path, flags, *args):
        if str(path).endswith(".lock"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(lock.os, "open", read_only)
    install_fake_engine(monkeypatch)
    (tmp_path / "out").mkdir()
    result = runner.invoke(app, ["caption-dir", str(photos), "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 8, result.output
    assert result.stderr.strip() == f"Error: Cannot write to the output folder {tmp_path / 'out'}: Read-only file system."


def read_shards(out: Path, fmt: str) -> list[dict]:
    if fmt == "parquet":
        return read_rows(out)
    return [json.loads(line) for shard in sorted(out.glob("*.jsonl")) for line in shard.read_text().splitlines()]


# --- SIGINT to a real process --------------------------------------------------------------------

SLOW_VLM = """
import os, sys, time
from vlmcli.commands import _runtime
from vlmcli.testing.fakes import FakeEngine

class Slow(FakeEngine):
    def generate(self, requests, gen):
        mark = os.environ["CAPTION_TEST_MARK"]
        if os.environ.get("CAPTION_TEST_HOLD") and os.path.exists(mark) and len(open(mark).read()) >= 3:
            open(mark + ".held", "w").close()  # batch four is held now: the test signals it here
            time.sleep(120)  # hold batch four until the test's SIGINT: a starved test cannot miss the run
        time.sleep(0.25)
        results = super().generate(requests, gen)
        with open(mark, "a") as out:  # one "x" per finished batch
            out.write("x")
        return results

_runtime.load_engine = Slow
_runtime.check_model = lambda config, **_: None
sys.argv = ["vlm", *sys.argv[1:]]
from vlmcli.cli import main
main()
"""


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="needs POSIX signals")
def test_sigint_flushes_finished_rows_and_exits_130(photos, tmp_path):
    out = tmp_path / "out"
    args = ["caption-dir", str(photos), "-o", str(out), "-q", "--batch-size", "1", "--rows-per-file", "100"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLM_")}
    env |= {"PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    mark = tmp_path / "batches-done"
    env["CAPTION_TEST_MARK"] = str(mark)
    held = env | {"CAPTION_TEST_HOLD": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_VLM, *args], cwd=ROOT, env=held, stderr=subprocess.PIPE, preexec_fn=_ctrl_c_as_at_a_terminal
    )
    deadline = time.monotonic() + 150  # a CI machine busy with the rest of the suite may take this long to start
    # The mark is written inside generate, before that batch's row reaches the writer; three
    # marks mean batches one and two were emitted (one thread runs generate, then emit), and
    # batch four holds until the signal, which is sent once it holds (`.held`): Ctrl-C during
    # a long batch, the case this test is about, whatever the machine's load.
    held_mark = Path(f"{mark}.held")
    while proc.poll() is None and time.monotonic() < deadline and not held_mark.exists():
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)  # two or more rows emitted (rows_per_file=100: still buffered)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr.decode()
    assert stderr.decode().strip().splitlines()[-1] == "Interrupted." and b"Traceback" not in stderr
    rows = read_rows(out)  # flushed on the way out, as a complete shard
    assert 2 <= len(rows) < 8 and all(r["status"] == "ok" for r in rows)

    done = subprocess.run([sys.executable, "-c", SLOW_VLM, *args], cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert Counter(Path(r["path"]).name for r in read_rows(out)) == Counter(f"img{i}.png" for i in range(8))


def _ctrl_c_as_at_a_terminal() -> None:
    """The child gets SIGINT's default action, as a command typed at a terminal does. A suite
    started in the background by a non-interactive shell (`bash -c '.ci/run' &`) inherits
    SIGINT ignored, and Python then leaves it ignored: the signal was lost and the test hung."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""
