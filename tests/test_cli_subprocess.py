"""Real `python -m vlmcli` processes: import cost of --help, pipes, flushing, exit codes.

Runs that need an engine use `vlmcli.testing.fakes.main_with_fake` (configured by
$VLMCLI_FAKE_ENGINE); the rest run the production entry point unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlmcli.testing.fakes import save_photo

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "numpy", "PIL", "pydantic", "huggingface_hub", "pyarrow", "decord", "rich")
FAKE = "from vlmcli.testing.fakes import main_with_fake; main_with_fake()"


def env(tmp_path, **extra):
    base = {k: v for k, v in os.environ.items() if not k.startswith("VLM_")}
    base |= {"PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "HF_HUB_CACHE": str(tmp_path / "hub")}
    return base | extra


def run(tmp_path, args, *, code: str | None = None, stdin=None, **extra_env):
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "vlmcli", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env(tmp_path, **extra_env), capture_output=True, stdin=stdin, timeout=60)


@pytest.mark.parametrize(
    "argv", [["--help"], ["ask", "--help"], ["describe", "--help"], ["export", "--help"], ["report", "--help"]]
)
def test_help_imports_nothing_heavy(tmp_path, argv):
    probe = (  # reported at exit: `main` ends the process (os._exit) once atexit handlers ran
        "import atexit, sys, json\n"
        f"sys.argv = ['vlm', *{argv!r}]\n"
        "def report():\n"
        "    heavy = sorted(m for m in sys.modules if m.split('.')[0] in %r)\n"
        "    sys.stderr.write(json.dumps({'heavy': heavy}))\n"
        "atexit.register(report)\n"
        "from vlmcli.cli import main\n"
        "main()\n"
    ) % (HEAVY,)
    result = run(tmp_path, [], code=probe)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stderr)
    assert report["heavy"] == []
    assert "Usage: vlm" in result.stdout.decode()
    # what makes help slow is importing these; bench/bench_startup.py measures the time


def test_version(tmp_path):
    from vlmcli import __version__

    assert run(tmp_path, ["--version"]).stdout.decode() == f"vlm {__version__}\n"


def test_missing_file_through_the_real_entry_point(tmp_path):
    model = str(ROOT / "models" / "reference")  # a local folder: the input's error, whatever the network
    result = run(tmp_path, ["ask", "-m", model, str(tmp_path / "nope.jpg"), "What is this?"])
    assert result.returncode == 3
    assert result.stdout == b""
    assert result.stderr.decode() == f"Error: No such file: {tmp_path / 'nope.jpg'}\n"


def test_tokens_are_flushed_as_they_stream(tmp_path):
    """stdout and stderr share one pipe: if stdout were block-buffered, all text would come last."""
    photo = save_photo(tmp_path / "a.jpg")
    cmd = [sys.executable, "-c", FAKE, "ask", str(photo), "alpha beta"]
    fake = json.dumps({"trace_tokens_to_stderr": True})
    merged = subprocess.run(
        cmd, cwd=ROOT, env=env(tmp_path, VLMCLI_FAKE_ENGINE=fake), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60
    ).stdout.decode()
    assert merged.startswith("<tok 0>Saw <tok 1>")
    assert merged.endswith("<tok 4>beta\n")


def test_stdout_has_only_the_answer_and_stdin_image_works(tmp_path):
    photo = save_photo(tmp_path / "a.png", "chelsea")
    with photo.open("rb") as stdin:
        result = run(tmp_path, ["ask", "--json", "-", "What animal?"], code=FAKE, stdin=stdin)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["inputs"] == ["-"] and record["images"][0]["width"] == 451
    assert result.stderr == b""


def test_model_error_and_interrupt_exit_codes(tmp_path):
    photo = str(save_photo(tmp_path / "a.jpg"))
    fake = json.dumps({"load_error": ["UnsupportedModelError", "org/bert is not a vision-language model."]})
    result = run(tmp_path, ["ask", photo, "Q?"], code=FAKE, VLMCLI_FAKE_ENGINE=fake)
    assert (result.returncode, result.stderr) == (4, b"Error: org/bert is not a vision-language model.\n")

    fake = json.dumps({"raise": "KeyboardInterrupt", "raise_after_tokens": 1})
    result = run(tmp_path, ["ask", photo, "Q?"], code=FAKE, VLMCLI_FAKE_ENGINE=fake)
    assert (result.returncode, result.stderr) == (130, b"Interrupted.\n")
    assert result.stdout == b"Saw \n"


def test_a_picture_past_pillows_own_bomb_threshold_prints_no_warning(tmp_path):
    """A 96 MP PNG header (under vlmcli's 100 MP limit, over Pillow's 89 MP warning threshold):
    before, Pillow's DecompressionBombWarning (two lines) came before the one-line error."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 12000, 8000, 8, 2, 0, 0, 0))
    picture = tmp_path / "huge.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + header + chunk(b"IEND", b""))  # no pixel data: truncated
    result = run(tmp_path, ["ask", str(picture), "What is it?"], code=FAKE, VLMCLI_FAKE_ENGINE="{}")
    lines = result.stderr.decode().splitlines()
    assert result.returncode == 3 and len(lines) == 1 and lines[0].startswith("Error: "), lines
    assert "DecompressionBomb" not in result.stderr.decode()
