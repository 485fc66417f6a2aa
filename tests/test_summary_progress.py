"""`vlm video-summarize` reports progress on stderr: a long video is not minutes of silence in a
log (`2> log`), on a terminal a spinner covers the scan, and `-q` silences it."""

from __future__ import annotations

import io
import time

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.summaries.progress import LogProgress, QuietProgress, TerminalProgress, make_summary_progress
from vlmcli.testing.fakes import isolate_env
from vlmcli.testing.media.video_clips import clip_set

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_lines_name_the_stage_the_count_and_the_eta():
    clock, log = Clock(), io.StringIO()
    progress = LogProgress(every=3600, stream=log, clock=clock)
    progress.planning("Scanning talk.mp4 (1:00:00.0, 90,000 frames) for scene cuts")
    clock.now += 95
    assert progress.line() == "Planning: 1m35s so far"
    progress.planned("Planned 40 segments over 1:00:00.0: 12 scene(s) from 11 cut(s) found")
    progress.describing(40, video_s=3600.0)
    clock.now += 30
    assert progress.line() == "Describing: 0/40 segments done (video to 0:00.0 of 1:00:00.0); waiting for the first segment 30s"
    progress.described(1, upto_s=90.0)
    clock.now += 20
    assert progress.line() == "Describing: 1/40 segments done (video to 1:30.0 of 1:00:00.0); segment 2 under way 20s"
    clock.now += 40
    progress.described(3, upto_s=270.0)  # 2 segments a minute once the model is warm
    assert progress.line() == (
        "Describing: 3/40 segments done (video to 4:30.0 of 1:00:00.0); 2.00 segments/min; ETA 18m30s"
    )
    progress.summarising("40 segment descriptions")
    clock.now += 5
    progress.finished()
    assert log.getvalue().splitlines() == [
        "Scanning talk.mp4 (1:00:00.0, 90,000 frames) for scene cuts",
        "Planned 40 segments over 1:00:00.0: 12 scene(s) from 11 cut(s) found",
        "Describing 40 segments (the model loads first)",
        "Summarising 40 segment descriptions",
        "Done in 3m10s",
    ]


def test_the_timer_writes_while_one_long_call_runs():
    log = io.StringIO()
    progress = LogProgress(every=0.05, stream=log)
    progress.describing(2, video_s=60.0)
    time.sleep(0.3)  # one model call that takes a while: nothing advances, lines still come
    progress.close()
    ticks = [line for line in log.getvalue().splitlines() if line.startswith("Describing: 0/2")]
    assert len(ticks) >= 2
    written = log.getvalue()
    time.sleep(0.15)
    assert log.getvalue() == written  # closed: the timer is gone, and no "Done" without success


def test_which_progress_where():
    assert isinstance(make_summary_progress(quiet=True, segments_on_stdout=False, stream=Tty()), QuietProgress)
    assert isinstance(make_summary_progress(quiet=False, segments_on_stdout=False, stream=io.StringIO()), LogProgress)
    terminal = make_summary_progress(quiet=False, segments_on_stdout=True, stream=Tty())
    assert isinstance(terminal, TerminalProgress) and not terminal.show_segments  # the lines on stdout are the progress
    assert make_summary_progress(quiet=False, segments_on_stdout=False, stream=Tty()).show_segments  # --json


def test_video_summarize_logs_its_stages(tiny_checkpoint):
    path = str(clip_set().cuts_a.path)
    base = ["video-summarize", path, "-m", str(tiny_checkpoint("qwen2_vl")), "--max-tokens", "3", "--frames", "2"]
    result = runner.invoke(app, [*base, "--log-every", "0.01"])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"Scanning {path} (") and lines[0].endswith("frames) for scene cuts")
    assert any(line.startswith("Planned ") and "segment" in line for line in lines)
    assert any(line.startswith("Describing ") for line in lines) and any(line.startswith("Summarising ") for line in lines)
    assert lines[-1].startswith("Done in ")
    assert "Summary:" in result.stdout and "Scanning" not in result.stdout  # results and diagnostics apart
    quiet = runner.invoke(app, [*base, "-q"])
    assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout.count("\n") == result.stdout.count("\n")
