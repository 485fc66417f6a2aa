"""Once `vlm`'s exit status is decided, Ctrl-C and SIGTERM cannot change it until the process
exits: a signal in the shutdown after caption-dir's `Done:` (torch's takes ~2 s) left exit 143
under a summary saying `"interrupted": false`; a second SIGTERM after an interrupt's summary,
143 instead of 130. SIGTERM is Ctrl-C as soon as `ask`/`describe`/`caption-dir`/
`video-summarize` is named (while its options are parsed: was 143). Fake engine, real processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from vlmcli.testing.fakes import isolate_env, save_photo

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, time
    from vlmcli.testing.fakes import main_with_fake

    number = getattr(signal, sys.argv.pop(1))
    when = sys.argv.pop(1)

    def spin():  # a Python handler runs between bytecodes: in this loop at the latest
        for _ in range(20_000_000):
            pass

    if when == "running":  # a first signal while captioning, the second in the shutdown below
        from vlmcli.captions import entry

        def run_job(*args, **kwargs):
            os.kill(os.getpid(), number)
            spin()

        entry.run_job = run_job
    if when == "parsing":  # before the command's own block: while its options are read
        from vlmcli import cli

        make = cli._Command.make_context

        def make_context(self, *args, **kwargs):
            os.kill(os.getpid(), number)
            spin()
            return make(self, *args, **kwargs)

        cli._Command.make_context = make_context
    try:
        main_with_fake()
    finally:  # the command is done, its last line written: the interpreter's shutdown follows
        if when != "parsing":
            os.kill(os.getpid(), number)
            time.sleep(0.3)
    """
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def _run(tmp_path, name: str, when: str, *argv: str) -> subprocess.CompletedProcess:
    script = tmp_path / "late_signal.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLM_")} | {"XDG_CONFIG_HOME": str(tmp_path / "x")}
    return subprocess.run(
        [sys.executable, str(script), name, when, *argv],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
    )  # fmt: skip


def _photos(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    save_photo(photos / "a.jpg")
    return photos


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_signal_in_the_shutdown_after_done_changes_nothing(tmp_path, name):
    photos = _photos(tmp_path)
    done = _run(tmp_path, name, "shutdown", "caption-dir", str(photos), "-o", str(tmp_path / "cap"), "--json")
    summary = json.loads(done.stdout)
    assert summary["interrupted"] is False and summary["ok"] == 1
    assert done.returncode == 0, done.stderr  # was 143 (SIGTERM), or a KeyboardInterrupt traceback (SIGINT)
    assert "Interrupted" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_second_signal_after_an_interrupt_keeps_exit_130(tmp_path, name):
    photos = _photos(tmp_path)
    done = _run(tmp_path, name, "running", "caption-dir", str(photos), "-o", str(tmp_path / "cap"), "--json")
    assert json.loads(done.stdout)["interrupted"] is True
    assert done.returncode == 130, done.stderr
    assert done.stderr.splitlines()[-1] == "Interrupted." and "Traceback" not in done.stderr


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_signal_in_the_shutdown_after_describe_changes_nothing(tmp_path, name):
    photo = save_photo(tmp_path / "a.jpg")
    done = _run(tmp_path, name, "shutdown", "describe", str(photo), "--json")
    assert json.loads(done.stdout.splitlines()[0])["inputs"] == [str(photo)]
    assert done.returncode == 0, done.stderr
    assert "Interrupted" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_signal_while_options_are_parsed_is_an_interrupt(tmp_path, name):
    photos = _photos(tmp_path)
    done = _run(tmp_path, name, "parsing", "caption-dir", str(photos), "-o", str(tmp_path / "cap"))
    assert done.returncode == 130, done.stderr  # SIGTERM was 143; Ctrl-C, click's "Aborted!" and exit 1
    assert done.stderr.splitlines() == ["Interrupted."]
    assert not (tmp_path / "cap").exists()
