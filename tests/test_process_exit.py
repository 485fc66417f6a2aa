"""The `vlm` process ends once its outcome is decided, skipping the interpreter's teardown
(`vlmcli.process_exit`), and loses nothing on the way: exit codes, every stdout line (file and
pipe), a closed pipe's quiet 141, the libraries' atexit work (logging flushed, temporary
folders removed, thread pools and non-daemon threads joined). Real processes; no timings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vlmcli.testing.fakes import save_photo

ROOT = Path(__file__).resolve().parents[1]
FAKE = "from vlmcli.testing.fakes import main_with_fake; main_with_fake()"


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("VLM_") and k != "PYTHONUNBUFFERED"}  # buffered, as users run it
    base |= {"PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "HF_HUB_CACHE": str(tmp_path / "hub")}
    return base | extra


def vlm(tmp_path: Path, args: list[str], *, code: str | None = None, **kwargs) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "vlmcli", *args]
    kwargs.setdefault("capture_output", True)
    return subprocess.run(cmd, cwd=ROOT, env=env(tmp_path), timeout=120, **kwargs)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("photos")
    first = save_photo(folder / "a.jpg")
    links = [first]
    for n in range(1, 150):  # long names: 150 JSON lines, well over a pipe's 64 KiB
        link = folder / f"{n:03d}-{'x' * 200}.jpg"
        link.symlink_to(first)
        links.append(link)
    return links


def test_exit_codes_are_those_python_would_exit_with(tmp_path, photos):
    assert vlm(tmp_path, ["--version"]).returncode == 0
    closed = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m vlmcli --version >&-; echo status=$?"],
        cwd=ROOT, env=env(tmp_path), capture_output=True, timeout=120,
    )
    assert closed.stdout == b"status=8\n" and closed.stderr.startswith(b"Error: standard output is closed")
    usage = vlm(tmp_path, ["ask", "--bogus"])
    assert (usage.returncode, usage.stdout) == (2, b"")
    assert usage.stderr.decode().startswith("Error: No such option: --bogus")
    missing = vlm(tmp_path, ["describe", str(tmp_path / "nope.jpg")], code=FAKE)
    assert (missing.returncode, missing.stderr) == (3, f"Error: No such file: {tmp_path / 'nope.jpg'}\n".encode())
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture")
    some_failed = vlm(tmp_path, ["describe", str(photos[0]), str(broken)], code=FAKE)
    assert some_failed.returncode == 9, some_failed.stderr
    assert some_failed.stdout.decode().count("Saw ") == 1
    fake = json.dumps({"raise": "KeyboardInterrupt", "raise_after_tokens": 1})
    interrupted = subprocess.run(
        [sys.executable, "-c", FAKE, "ask", str(photos[0]), "Q?"],
        cwd=ROOT, env=env(tmp_path, VLMCLI_FAKE_ENGINE=fake), capture_output=True, timeout=120,
    )
    assert (interrupted.returncode, interrupted.stdout, interrupted.stderr) == (130, b"Saw \n", b"Interrupted.\n")


def test_the_console_script_exits_as_before(tmp_path):
    script = Path(sys.executable).with_name("vlm")
    if not script.exists():
        pytest.skip("no `vlm` console script beside this interpreter")
    run = lambda *args: subprocess.run([str(script), *args], cwd=ROOT, env=env(tmp_path), capture_output=True, timeout=120)  # noqa: E731
    version = run("--version")
    assert (version.returncode, version.stdout.startswith(b"vlm "), version.stderr) == (0, True, b"")
    assert run("describe", "--bogus").returncode == 2


def reading(pid: int, *, within: float = 90.0) -> None:
    """Wait until process `pid` blocks reading a pipe (its stdin here), as Linux's wchan says."""
    wchan = Path(f"/proc/{pid}/wchan")
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if "pipe_read" in wchan.read_text():
                return
        except OSError:
            time.sleep(5)  # no /proc: a fixed wait
            return
        time.sleep(0.1)


def test_a_real_sigint_exits_130(tmp_path):
    """Ctrl-C while caption-dir waits for its file list on stdin (an open pipe)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "vlmcli", "caption-dir", "--files-from", "-", "-o", str(tmp_path / "out"), "-m", str(ROOT / "models" / "reference")],
        cwd=ROOT, env=env(tmp_path), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        reading(proc.pid)  # imported, and blocked reading stdin (before: Python's own KeyboardInterrupt)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert (proc.returncode, out) == (130, b""), err
    assert err.decode().endswith("Interrupted.\n")


def test_a_string_exit_code_is_printed_and_exits_1(tmp_path):
    code = (
        "import sys; sys.argv = ['vlm', '--version']\n"
        "from vlmcli.process_exit import exit_process\n"
        "sys.stdout.write('kept\\n')\n"
        "exit_process('Fatal: as Python says it')\n"
    )
    result = vlm(tmp_path, [], code=code)
    assert (result.returncode, result.stdout, result.stderr) == (1, b"kept\n", b"Fatal: as Python says it\n")


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_every_line_reaches_a_file_and_a_pipe(tmp_path, photos, json_flag):
    args = ["describe", *map(str, photos), *json_flag]
    into_file = tmp_path / "out.txt"
    with into_file.open("wb") as handle:
        to_file = vlm(tmp_path, args, code=FAKE, stdout=handle, stderr=subprocess.PIPE, capture_output=False)
    to_pipe = vlm(tmp_path, args, code=FAKE)
    assert to_file.returncode == to_pipe.returncode == 0, to_pipe.stderr
    for text in (into_file.read_bytes(), to_pipe.stdout):
        assert text.endswith(b"\n")
        lines = text.decode().splitlines()
        if json_flag:
            assert [json.loads(line)["inputs"] for line in lines] == [[str(p)] for p in photos]
        else:
            assert text.decode().count("Saw ") == len(photos)


def test_a_closed_pipe_still_exits_141_quietly(tmp_path, photos):
    """`vlm describe ... | head -1`: head reads one line and exits; vlm's next write fails."""
    script = f"{sys.executable} -c '{FAKE}' describe --json " + " ".join(f"'{p}'" for p in photos)
    result = subprocess.run(
        ["bash", "-c", script + ' | head -1; echo "status=${PIPESTATUS[0]}" >&2'],
        cwd=ROOT, env=env(tmp_path), capture_output=True, timeout=120,
    )
    assert len(result.stdout.decode().splitlines()) == 1
    assert result.stderr.endswith(b"\nstatus=141\n")
    assert not any(word in result.stderr for word in (b"Error", b"Exception", b"Broken pipe", b"Traceback"))

    proc = subprocess.Popen(  # nobody reads at all
        [sys.executable, "-c", FAKE, "describe", str(photos[0])],
        cwd=ROOT, env=env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    proc.stdout.close()
    assert proc.wait(timeout=120) == 141
    assert not any(word in proc.stderr.read() for word in (b"Error", b"Exception", b"Broken pipe", b"Traceback"))


LIBRARY_STATE = """
import atexit, logging, logging.handlers, sys, tempfile, threading, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

out = Path(sys.argv.pop(1))
log = logging.getLogger("somelib")
log.addHandler(logging.handlers.MemoryHandler(10_000, target=logging.FileHandler(out / "lib.log")))
log.warning("buffered until logging.shutdown")  # logging's atexit handler flushes it
kept = tempfile.TemporaryDirectory(dir=out)  # removed by weakref.finalize's atexit hook
(out / "tmpdir").write_text(kept.name)
pool = ThreadPoolExecutor(1)  # never shut down: Python joins it at exit
pool.submit(lambda: (time.sleep(0.5), (out / "pool").write_text("done")))
threading.Thread(target=lambda: (time.sleep(0.5), (out / "thread").write_text("done"))).start()
atexit.register(lambda: (out / "atexit").write_text("ran last" if (out / "thread").exists() else "too early"))

class Torn:  # a module global's __del__ runs only in the interpreter's teardown
    def __del__(self):
        (out / "teardown").write_text("ran")

torn = Torn()
sys.argv[0] = "vlm"
from vlmcli.cli import main
main()
"""


def test_library_atexit_work_still_runs(tmp_path):
    result = vlm(tmp_path, [str(tmp_path), "--version"], code=LIBRARY_STATE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().startswith("vlm ") and result.stderr == b""
    assert (tmp_path / "lib.log").read_text() == "buffered until logging.shutdown\n"
    assert not Path((tmp_path / "tmpdir").read_text()).exists()
    assert (tmp_path / "pool").read_text() == (tmp_path / "thread").read_text() == "done"
    assert (tmp_path / "atexit").read_text() == "ran last"  # threads joined first, as Python does


def test_the_interpreter_teardown_is_skipped(tmp_path):
    """What takes torch's ~2-4 s (module teardown) is not run: a global's __del__ never is."""
    result = vlm(tmp_path, [str(tmp_path), "--version"], code=LIBRARY_STATE)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "atexit").exists() and not (tmp_path / "teardown").exists()


def test_the_typer_app_in_process_is_unaffected():
    """Tests (CliRunner) call the app, not `main`: a run returns, the process goes on."""
    from typer.testing import CliRunner

    from vlmcli import __version__
    from vlmcli.cli import app

    result = CliRunner().invoke(app, ["--version"])
    assert (result.exit_code, result.stdout) == (0, f"vlm {__version__}\n")
