"""What scripts give the commands, said alike by each: an empty `describe --prompt` is a usage
error (exit 2) as `ask ''`, `caption-dir -p ''` and `video-summarize --prompt ''` are; a URL or a
file:// address, and `-`, get describe's explanation from video-summarize and caption-dir; and
SIGTERM (a CI timeout) interrupts `describe` as Ctrl-C does: exit 130, `Interrupted.`, whole
JSON lines. Fake engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.inputs.addresses import STDIN_VIDEO, address_hint
from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo

runner = CliRunner()
FILE_URL = "file:///photos/My%20Cat.{}"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def _fails(args: list[str], code: int) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: ")
    return line


@pytest.mark.parametrize("prompt", ["", "   ", "\n"])
def test_an_empty_describe_prompt_is_a_usage_error(monkeypatch, tmp_path, prompt):
    factory = install_fake_engine(monkeypatch)
    photo = save_photo(tmp_path / "a.jpg")
    line = _fails(["describe", str(photo), "--prompt", prompt], 2)
    assert line == "Error: --prompt is empty: give the prompt text, or leave the flag out for the built-in one."
    assert factory.engines == []
    assert _fails(["video-summarize", "clip.mp4", "--prompt", prompt], 2).startswith("Error: --prompt is empty")


def test_file_addresses_are_explained_alike(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    hint = address_hint(FILE_URL.format("jpg"), fetch="")
    assert hint == ". A file:// address names a local file: pass its path, '/photos/My Cat.jpg'"
    assert _fails(["describe", FILE_URL.format("jpg")], 3) == f"Error: No such file: {FILE_URL.format('jpg')}{hint}"
    assert _fails(["caption-dir", FILE_URL.format("jpg"), "-o", str(tmp_path / "o")], 3) == (
        f"Error: No such file or folder: {FILE_URL.format('jpg')}{hint}"
    )
    video_hint = hint.replace(".jpg", ".mp4")
    assert _fails(["video-summarize", FILE_URL.format("mp4")], 3) == (
        f"Error: Video file not found: {FILE_URL.format('mp4')}{video_hint}"
    )


@pytest.mark.parametrize("url", ["https://example.com/cat.{}", "https://example.com/cat.{}?token=1"])
def test_urls_are_explained_alike(monkeypatch, tmp_path, url):
    install_fake_engine(monkeypatch)
    said = ". vlmcli reads local files"
    described = _fails(["describe", url.format("jpg")], 3)
    assert said in described and "it does not download: " in described
    for args, head in (
        (["caption-dir", url.format("jpg"), "-o", str(tmp_path / "o")], f"No such file or folder: {url.format('jpg')}"),
        (["video-summarize", url.format("mp4")], f"Video file not found: {url.format('mp4')}"),
    ):
        line = _fails(args, 3)
        assert line.startswith(f"Error: {head}{said}, it does not download: ") and "pattern" not in line, line


def test_stdin_is_explained_alike(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    assert _fails(["video-summarize", "-"], 3) == f"Error: {STDIN_VIDEO}"
    assert "--files-from -" in _fails(["caption-dir", "-", "-o", str(tmp_path / "o")], 3)


SIGTERM_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from vlmcli.commands import _runtime
    from vlmcli.testing.fakes import FakeEngineFactory, default_answer, _no_check
    from vlmcli.cli import main

    asked, signalled = [], []
    def answer(request):  # the fake asks twice per request (the text, then its finish reason)
        if id(request) not in asked:
            asked.append(id(request))
        if len(asked) == int(os.environ.get("SIGTERM_AT", "2")) and not signalled:
            signalled.append(1)
            os.kill(os.getpid(), signal.SIGTERM)  # as a CI job's timeout sends it
        return default_answer(request)

    _runtime.load_engine = FakeEngineFactory(options={"answer": answer})
    _runtime.check_model = _no_check
    sys.argv = ["vlm", *sys.argv[1:]]
    main()
    """
)


def test_sigterm_interrupts_describe_as_ctrl_c(tmp_path):
    photos = [str(save_photo(tmp_path / f"{name}.jpg", name)) for name in ("astronaut", "chelsea", "coffee")]
    script = tmp_path / "run.py"
    script.write_text(SIGTERM_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLM_")} | {"XDG_CONFIG_HOME": str(tmp_path / "x")}
    done = subprocess.run(
        [sys.executable, str(script), "describe", *photos, "--json", "--static-batching", "--batch-size", "1"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 130, done.stderr
    assert done.stderr.splitlines()[-1] == "Interrupted."
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["inputs"] == [photos[0]]  # the first answer, whole


def test_sigterm_interrupts_ask_as_ctrl_c(tmp_path):
    photo = str(save_photo(tmp_path / "astronaut.jpg", "astronaut"))
    script = tmp_path / "run.py"
    script.write_text(SIGTERM_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLM_")} | {
        "XDG_CONFIG_HOME": str(tmp_path / "x"), "SIGTERM_AT": "1",
    }
    done = subprocess.run(
        [sys.executable, str(script), "ask", photo, "What is this?", "--json"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 130, done.stderr  # was killed by the signal: 143, nothing said
    assert done.stderr.splitlines()[-1] == "Interrupted." and done.stdout == ""


def test_a_url_in_a_files_from_list_is_an_error_row_named_as_listed(monkeypatch, tmp_path):
    """It became `/cwd/https:/example.com/x.jpg`: an error row naming a file nobody listed."""
    from vlmcli.exports.results import read_results

    install_fake_engine(monkeypatch)
    monkeypatch.chdir(tmp_path)
    save_photo(tmp_path / "a.jpg")
    url, local = "https://example.com/x.jpg", f"file://{tmp_path}/a.jpg"
    (tmp_path / "list.txt").write_text(f"a.jpg\n{url}\n{local}\n")
    for _ in range(2):  # a rerun retries the error rows, and keeps one row each
        result = runner.invoke(app, ["caption-dir", "--files-from", "list.txt", "-o", "out", "-q"])
        assert result.exit_code == 9, result.output
        rows = {r["path"]: r for r in read_results(tmp_path / "out")}
        assert sorted(rows) == sorted([str(tmp_path / "a.jpg"), url, local])
        assert rows[url]["error"].startswith(f"No such file: {url}. vlmcli reads local files, it does not download")
        assert rows[local]["error"].endswith(f"pass its path, {tmp_path}/a.jpg")
