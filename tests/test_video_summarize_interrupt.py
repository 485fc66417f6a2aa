"""`video-summarize --json` interrupted (Ctrl-C, or SIGTERM as a job scheduler sends it) still
prints one record: the segments finished so far, `"interrupted": true`, no summary; exit 130.
Text mode keeps the lines it printed. Fake engine, a 4 s generated clip cut into 1 s windows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.testing.fakes import default_answer, install_fake_engine, isolate_env
from vlmcli.testing.media.video_clips import clip_set

runner = CliRunner()
ARGS = ["--no-scenes", "--segment-seconds", "1", "--frames", "2", "-q"]  # 4 windows of 1 s


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def _interrupt_on_request(n: int):
    """An answer function that raises KeyboardInterrupt when asked its n-th question."""
    asked: list[int] = []

    def answer(request):  # the fake asks twice per request (the text, then its finish reason)
        if id(request) not in asked:
            asked.append(id(request))
        if len(asked) == n:
            raise KeyboardInterrupt
        return default_answer(request)

    return answer


def test_json_keeps_the_finished_segments_when_interrupted(monkeypatch):
    install_fake_engine(monkeypatch, answer=_interrupt_on_request(3))
    result = runner.invoke(app, ["video-summarize", str(clip_set().motion.path), "--json", *ARGS])
    assert result.exit_code == 130, result.output
    assert "Interrupted." in result.stderr
    record = json.loads(result.stdout)
    assert record["interrupted"] is True
    assert [s["index"] for s in record["segments"]] == [0, 1]
    assert all(s["summary"].startswith("Saw") for s in record["segments"])
    assert record["summary"] is None and record["finish_reason"] is None
    assert record["visual_tokens"] == sum(s["visual_tokens"] for s in record["segments"])
    assert len(record["frames"]) == 4 * 2  # the plan is whole: every planned frame


def test_json_interrupted_during_the_summary_keeps_every_segment(monkeypatch):
    install_fake_engine(monkeypatch, answer=_interrupt_on_request(5))  # 4 segments, then the summary call
    result = runner.invoke(app, ["video-summarize", str(clip_set().motion.path), "--json", *ARGS])
    assert result.exit_code == 130, result.output
    record = json.loads(result.stdout)
    assert record["interrupted"] is True and len(record["segments"]) == 4 and record["summary"] is None


def test_a_finished_run_has_one_record_without_the_interrupted_field(monkeypatch):
    install_fake_engine(monkeypatch)
    result = runner.invoke(app, ["video-summarize", str(clip_set().motion.path), "--json", *ARGS])
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    record = json.loads(line)
    assert "interrupted" not in record and isinstance(record["summary"], str)


def test_text_mode_keeps_the_lines_printed(monkeypatch):
    install_fake_engine(monkeypatch, answer=_interrupt_on_request(3))
    result = runner.invoke(app, ["video-summarize", str(clip_set().motion.path), *ARGS])
    assert result.exit_code == 130
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("[0:0") for line in lines)


SIGTERM_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from vlmcli.commands import _runtime
    from vlmcli.testing.fakes import FakeEngineFactory, default_answer, _no_check
    from vlmcli.cli import main

    asked, signalled = [], []
    def answer(request):
        if id(request) not in asked:
            asked.append(id(request))
        if len(asked) == 3 and not signalled:
            signalled.append(1)
            os.kill(os.getpid(), signal.SIGTERM)  # as `kill` or a scheduler's time limit sends it
        return default_answer(request)

    _runtime.load_engine = FakeEngineFactory(options={"answer": answer})
    _runtime.check_model = _no_check
    sys.argv = ["vlm", *sys.argv[1:]]
    main()
    """
)


def test_sigterm_is_an_interrupt_with_a_partial_record(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SIGTERM_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLM_")}
    done = subprocess.run(
        [sys.executable, str(script), "video-summarize", str(clip_set().motion.path), "--json", *ARGS],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert done.returncode == 130, done.stderr
    assert "Interrupted." in done.stderr
    record = json.loads(done.stdout)
    assert record["interrupted"] is True and len(record["segments"]) == 2
