"""`vlm describe` over several inputs reports progress on stderr, as caption-dir does.

A tester's 150-image `describe --json > out 2> err` run (25-60 s) wrote nothing to stderr but
the `Error:` lines of the inputs it refused; on a terminal only the "Loading" spinner, then
silence until the end; Ctrl-C said `Interrupted.` with no count of what was done. Now: plain
periodic lines when stderr is a log (`--log-every`), a bar on a terminal when the answers do
not go to it, nothing with `-q` or for a single input, and the count before `Interrupted.`.
stdout is untouched (one JSON line per input).

Also `describe --dry-run --json`: each plan has `inputs`, as the real run's objects and the
error objects among the plans have (it had not).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time

import pytest
import typer.main
from PIL import Image
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.commands import _runtime
from vlmcli.commands._describe_progress import BarProgress, Counts, LogProgress, make_describe_progress
from vlmcli.testing.fakes import default_answer, install_fake_engine, isolate_env

runner = CliRunner()


@pytest.fixture
def pictures(tmp_path, monkeypatch) -> list[str]:
    isolate_env(monkeypatch, tmp_path)
    paths = []
    for i, colour in enumerate([(200, 40, 40), (40, 200, 40), (40, 40, 200)]):
        path = tmp_path / f"p{i}.png"
        Image.new("RGB", (64, 48), colour).save(path)
        paths.append(str(path))
    return paths


def _slow(seconds: float, *, interrupt_at: str | None = None):
    def answer(request):
        time.sleep(seconds)  # one answer that takes a while: the timer's lines still come
        if interrupt_at is not None and request.images[0].source.endswith(interrupt_at):
            raise KeyboardInterrupt
        return default_answer(request)

    return answer


def _progress_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Describing")]


def test_a_log_gets_a_first_line_timed_lines_and_a_last_line(monkeypatch, pictures):
    install_fake_engine(monkeypatch, answer=_slow(0.25))
    missing = pictures[0] + ".gone.png"
    result = runner.invoke(app, ["describe", *pictures, missing, "--json", "--log-every", "0.05"])
    assert result.exit_code == 9, result.output
    lines = _progress_lines(result.stderr)
    assert lines[0] == "Describing 4 inputs (the model loads first)"
    timed = [line for line in lines[1:-1] if line.startswith("Describing: ")]
    assert len(timed) >= 3, result.stderr  # ~0.75 s of answers, a line every 0.05 s
    assert any("1 failed" in line and "inputs/s; ETA" in line for line in timed), result.stderr
    assert lines[-1].startswith("Describing: 4/4 done (3 described, 1 failed) in ")
    records = [json.loads(line) for line in result.stdout.splitlines()]  # stdout: one JSON line per input
    assert [r["inputs"] for r in records] == [[p] for p in [*pictures, missing]]


def test_one_input_and_quiet_add_nothing(monkeypatch, pictures):
    install_fake_engine(monkeypatch)
    one = runner.invoke(app, ["describe", pictures[0], "--json", "--log-every", "0.01"])
    assert one.exit_code == 0 and one.stderr == "", one.stderr
    quiet = runner.invoke(app, ["describe", *pictures, "--json", "-q", "--log-every", "0.01"])
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.stderr
    assert len(quiet.stdout.splitlines()) == 3


def test_ctrl_c_says_how_many_were_described(monkeypatch, pictures):
    install_fake_engine(monkeypatch, answer=_slow(0.0, interrupt_at="p2.png"))
    result = runner.invoke(app, ["describe", *pictures, pictures[0]])
    assert result.exit_code == 130
    assert result.stderr.splitlines()[-2:] == [
        "Described 2 of 4 inputs before the interrupt (2 not reached).",
        "Interrupted.",
    ]
    quiet = runner.invoke(app, ["describe", *pictures, "-q"])
    assert quiet.exit_code == 130 and quiet.stderr == "Interrupted.\n"


def test_redirected_stdout_and_stderr_in_a_real_process(pictures, tmp_path):
    """The tester's setup: `vlm describe ... --json > out 2> err`, both files."""
    out, err = tmp_path / "out.jsonl", tmp_path / "err.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLM_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "cfg")
    code = "from vlmcli.testing.fakes import main_with_fake; main_with_fake()"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        done = subprocess.run(
            [sys.executable, "-c", code, "describe", *pictures, "--json"], stdout=stdout, stderr=stderr, env=env,
            timeout=120,
        )
    assert done.returncode == 0, err.read_text()
    lines = err.read_text().splitlines()
    assert lines[0] == "Describing 3 inputs (the model loads first)"
    assert lines[-1].startswith("Describing: 3/3 done (3 described) in ")
    assert [json.loads(line)["inputs"] for line in out.read_text().splitlines()] == [[p] for p in pictures]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_only_when_the_answers_do_not_go_to_the_terminal(monkeypatch):
    monkeypatch.setenv("TERM", "xterm-256color")
    assert isinstance(make_describe_progress(quiet=False, answers_on_terminal=False, stream=_Tty()), BarProgress)
    on_terminal = make_describe_progress(quiet=False, answers_on_terminal=True, stream=_Tty())
    assert type(on_terminal) is Counts  # the streamed answers are the progress: no bar to garble them
    assert isinstance(make_describe_progress(quiet=False, answers_on_terminal=True, stream=io.StringIO()), LogProgress)
    assert type(make_describe_progress(quiet=True, answers_on_terminal=False, stream=_Tty())) is Counts
    monkeypatch.setenv("TERM", "dumb")  # rich draws no bar until the end there
    assert isinstance(make_describe_progress(quiet=False, answers_on_terminal=False, stream=_Tty()), LogProgress)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_log_lines_say_the_load_the_first_answer_the_rate_and_the_eta():
    clock, log = _Clock(), io.StringIO()
    progress = LogProgress(every=3600, stream=log, clock=clock)
    progress.start(151, failed=1)
    clock.now += 45
    assert progress.line() == "Describing: 1/151 done (0 described, 1 failed); loading the model 45s"
    progress.generating()
    clock.now += 5
    assert progress.line() == "Describing: 1/151 done (0 described, 1 failed); waiting for the first answer 5s"
    for _ in range(10):
        clock.now += 1
        progress.advance(ok=True)
    progress.advance(ok=False)
    assert progress.line() == "Describing: 12/151 done (10 described, 2 failed); 0.67 inputs/s; ETA 3m28s"
    clock.now += 20
    for _ in range(40):
        progress.advance(ok=True)
    # timed from the first answer (warm-up excluded) once that is 10 s ago: 49 more in 29 s
    assert progress.line() == "Describing: 52/151 done (50 described, 2 failed); 1.69 inputs/s; ETA 59s"
    progress.finished()
    assert log.getvalue().splitlines() == [
        "Describing 151 inputs (the model loads first)",
        "Describing: 52/151 done (50 described, 2 failed) in 1m20s",
    ]


def test_dry_run_json_plans_have_inputs(tiny_checkpoint, pictures, monkeypatch):
    def refuse(config):
        raise AssertionError("a dry run must not load weights")

    monkeypatch.setattr(_runtime, "load_engine", refuse)
    missing = pictures[0] + ".gone.png"
    model = str(tiny_checkpoint("qwen2_vl"))
    args = ["describe", pictures[0], missing, pictures[1], "-m", model, "--dry-run", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 9, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["inputs"] for r in records] == [[pictures[0]], [missing], [pictures[1]]]
    plan = records[0]
    assert list(plan)[:2] == ["model", "inputs"] and plan["images"][0]["path"] == pictures[0]
    assert _progress_lines(result.stderr) == []  # a dry run is not a long run: no progress
    sub = typer.main.get_command(app).commands["describe"]  # type: ignore[attr-defined]
    help_text = sub.get_help(sub.context_class(sub, info_name="describe")).split("--dry-run --json", 1)[1]
    assert sorted(key for key in plan if key not in help_text) == []  # each field named in describe --help
