"""caption-dir's output folder as a script meets it: a read-only folder of an earlier run is
refused before the model loads (exit 8, one line); a full disk while taking the run's lock
names the lock file; a Ctrl-C or SIGTERM landing after the summary is final changes nothing
(the exit status is what the JSON summary says; video-summarize's record alike). Fake engine."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

from vlmcli.interrupts import interruptible_until_decided
from vlmcli.testing.fakes import caption_dir, install_fake_engine, isolate_env, save_photo

RESTRICTED = ("--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search")
"""setpriv's flags that make root obey file permissions (as the walk reproduced them)."""


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def _env(tmp_path, fake: dict) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLM_")}
    return env | {"VLMCLI_FAKE_ENGINE": json.dumps(fake), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}


def _as_a_user(command: list[str]) -> list[str]:
    """`command` run so that permissions apply: as it is for a user; for root, under setpriv
    without the capabilities that bypass them (skipped where setpriv cannot drop them)."""
    if os.geteuid() != 0:
        return command
    setpriv = shutil.which("setpriv")
    if setpriv is None or subprocess.run([setpriv, *RESTRICTED, "true"], capture_output=True).returncode != 0:
        pytest.skip("running as root, and setpriv cannot drop CAP_DAC_OVERRIDE here")
    return [setpriv, *RESTRICTED, *command]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_a_read_only_folder_of_an_earlier_run_is_refused_before_the_model_loads(monkeypatch, tmp_path, fmt):
    photos, out = tmp_path / "photos", tmp_path / "cap"
    photos.mkdir()
    save_photo(photos / "a.jpg")
    install_fake_engine(monkeypatch)
    caption_dir(photos, "-o", out, "--format", fmt)  # the earlier run: its lock file stays writable
    save_photo(photos / "b.jpg", "chelsea")  # work left for this run
    before = sorted(p.name for p in out.iterdir())
    out.chmod(0o555)
    try:
        done = subprocess.run(
            _as_a_user([sys.executable, "-c", "from vlmcli.testing.fakes import main_with_fake; main_with_fake()",
                        "caption-dir", str(photos), "-o", str(out), "--format", fmt]),
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
            env=_env(tmp_path, {"load_error": ["ModelError", "the model was loaded"]}),
        )  # fmt: skip
    finally:
        out.chmod(0o755)
    assert done.returncode == 8, done.stderr
    assert done.stderr.splitlines() == [f"Error: Cannot write to the output folder {out}: Permission denied."]
    assert sorted(p.name for p in out.iterdir()) == before


def test_a_full_disk_while_taking_the_lock_names_the_lock_file(monkeypatch, tmp_path):
    import vlmcli.sinks.lock as lock

    photos, out = tmp_path / "photos", tmp_path / "mnt" / "cap"
    photos.mkdir()
    save_photo(photos / "a.jpg")
    factory = install_fake_engine(monkeypatch)

    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(lock.os, "pwrite", full)
    result = caption_dir(photos, "-o", out, code=8)
    assert result.stderr.splitlines() == [f"Error: Cannot write {out / '.vlm-run.lock'}: No space left on device."]
    assert factory.engines == []


LATE_SIGNAL = textwrap.dedent(
    """
    import os, signal, sys, time
    from vlmcli.commands import _caption_run
    from vlmcli.testing.fakes import main_with_fake

    number = getattr(signal, sys.argv.pop(1))
    report = _caption_run._report

    def late(summary, **kwargs):
        report(summary, **kwargs)  # `Done:` and the JSON summary are out: the outcome is said
        os.kill(os.getpid(), number)  # Ctrl-C, or a scheduler's SIGTERM, a moment too late
        time.sleep(0.5)

    _caption_run._report = late
    main_with_fake()
    """
)


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_signal_after_the_summary_does_not_change_the_exit_status(tmp_path, name):
    photos = tmp_path / "photos"
    photos.mkdir()
    save_photo(photos / "a.jpg")
    script = tmp_path / "late.py"
    script.write_text(LATE_SIGNAL)
    done = subprocess.run(
        [sys.executable, str(script), name, "caption-dir", str(photos), "-o", str(tmp_path / "cap"), "--json"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=_env(tmp_path, {}),
    )  # fmt: skip
    summary = json.loads(done.stdout)
    assert summary["interrupted"] is False and summary["ok"] == 1
    assert done.returncode == 0, done.stderr
    assert "Interrupted" not in done.stderr


LATE_SIGNAL_VIDEO = textwrap.dedent(
    """
    import os, signal, sys, time
    import vlmcli.summaries.progress as summary_progress
    from vlmcli.testing.fakes import main_with_fake

    number = getattr(signal, sys.argv.pop(1))
    make = summary_progress.make_summary_progress

    def made(**kwargs):
        progress = make(**kwargs)
        finished = progress.finished

        def late():  # the JSON record is out
            finished()
            os.kill(os.getpid(), number)
            time.sleep(0.5)

        progress.finished = late
        return progress

    summary_progress.make_summary_progress = made
    main_with_fake()
    """
)


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_signal_after_the_video_record_does_not_change_the_exit_status(tmp_path, name):
    from vlmcli.testing.media.video_clips import clip_set

    script = tmp_path / "late.py"
    script.write_text(LATE_SIGNAL_VIDEO)
    done = subprocess.run(
        [sys.executable, str(script), name, "video-summarize", str(clip_set().motion.path), "--json",
         "--no-scenes", "--segment-seconds", "2", "--frames", "2", "-q"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=_env(tmp_path, {}),
    )  # fmt: skip
    record = json.loads(done.stdout)
    assert "interrupted" not in record and isinstance(record["summary"], str)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_until_decided_a_signal_interrupts_after_it_is_ignored(number):
    before = signal.getsignal(number)
    with pytest.raises(KeyboardInterrupt):
        with interruptible_until_decided():
            os.kill(os.getpid(), number)
            for _ in range(10_000_000):  # the handler runs between bytecodes, in this loop at the latest
                pass
    with interruptible_until_decided() as decided:
        decided()
        os.kill(os.getpid(), number)
        for _ in range(100_000):
            pass
    assert signal.getsignal(number) == before
