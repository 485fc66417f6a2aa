"""What reaches a terminal is shown, never obeyed: file names, model names and model answers
with control characters (ESC, BEL, a newline, U+202E) are written as escapes.

File names on Linux may hold any byte but `/` and NUL; a prompt-injected image can make a
model answer with an OSC 52 clipboard write. Names in messages are escaped as `display_name`
writes them; answers on a terminal as `_terminal.visible` does (piped, byte-exact).
"""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.media.names import display_name
from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo

runner = CliRunner()
TITLE = "\x1b]0;PWNED\x07x.png"  # sets the window title when printed raw
BROKEN = b"not a picture"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def raw_controls(text: str) -> list[str]:
    """The control characters (but newline) and bidi overrides left in `text`."""
    return [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F or c == "\u202e"]


def caption_dir(*args: object) -> "object":
    return runner.invoke(app, ["caption-dir", *map(str, args)])


# --- caption-dir: the error summary, the dry run, the error column, progress lines --------


def test_caption_dir_error_summary_names_each_file_as_one_line_of_text(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    photos = tmp_path / "in"
    photos.mkdir()
    (photos / TITLE).write_bytes(BROKEN + b"1")
    (photos / "two\nlines.png").write_bytes(BROKEN + b"2")
    result = caption_dir(photos, "-o", tmp_path / "out", "--format", "jsonl")
    assert result.exit_code == 9, result.output
    assert raw_controls(result.stderr) == []
    errors = [line for line in result.stderr.splitlines() if line.startswith("  error: ")]
    assert len(errors) == 2, result.stderr  # in the order they failed
    for name in (display_name(photos / TITLE), f"{display_name(photos / 'two')}\\nlines.png"):
        assert any(line.startswith(f"  error: {name} is not an image") for line in errors), result.stderr


def test_dry_run_unreadable_lines_name_each_file_as_one_line_of_text(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    photos = tmp_path / "in"
    photos.mkdir()
    (photos / TITLE).write_bytes(BROKEN + b"1")
    (photos / "two\nlines.png").write_bytes(BROKEN + b"2")
    result = caption_dir(photos, "-o", tmp_path / "out", "--dry-run")
    assert result.exit_code == 0, result.output
    assert raw_controls(result.stderr) == []
    unreadable = [line for line in result.stderr.splitlines() if line.startswith("  unreadable: ")]
    assert len(unreadable) == 2 and all(" is not an image " in line for line in unreadable), result.stderr


def test_identical_broken_files_each_have_an_error_naming_their_own_file(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    photos = tmp_path / "in"
    photos.mkdir()
    names = ["e\x1bsc.png", "plain1.png", "plain2.png"]  # the escaped name sorts first: it is read
    for name in names:
        (photos / name).write_bytes(BROKEN)
    from vlmcli.exports.results import read_results

    out = tmp_path / "out"
    result = caption_dir(photos, "-o", out, "--format", "jsonl", "-q")
    assert result.exit_code == 9, result.output
    rows = list(read_results(out))
    assert sorted(os.path.basename(r["path"]) for r in rows) == names
    for row in rows:
        assert row["error"].startswith(f"{display_name(row['path'])} is not an image"), row


def test_txt_run_error_lines_and_the_linked_folder_note_are_escaped(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    photos = tmp_path / "in"
    photos.mkdir()
    (photos / TITLE).write_bytes(BROKEN)
    save_photo(photos / "ok.png")
    (tmp_path / "elsewhere").mkdir()
    (photos / "link\x1b[2J").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    result = caption_dir(photos, "--format", "txt")
    assert result.exit_code == 9, result.output
    assert raw_controls(result.stderr) == []
    assert "link\\x1b[2J" in result.stderr  # the note on the symlinked folder not followed
    assert f"error: {display_name(photos / TITLE)}" in result.stderr


def test_a_run_output_given_as_input_is_named_as_text(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    photos = tmp_path / "in"
    photos.mkdir()
    save_photo(photos / "ok.png")
    out = tmp_path / "run\x1b]0;X\x07"
    assert caption_dir(photos, "-o", out, "-q").exit_code == 0
    result = caption_dir(out, "-o", tmp_path / "again", "-q")
    assert result.exit_code != 0 and "holds a caption run's output" in result.stderr
    assert raw_controls(result.stderr) == [] and "run\\x1b]0;X\\x07" in result.stderr


def test_progress_log_lines_are_escaped():
    from vlmcli.captions.progress import LogProgress

    stream = io.StringIO()
    progress = LogProgress(stream=stream)
    progress.log(f"warning: {TITLE}: a note")
    progress.close()
    assert raw_controls(stream.getvalue()) == [] and "\\x1b]0;PWNED\\x07x.png" in stream.getvalue()


@pytest.mark.parametrize(("term", "kind"), [("dumb", "LogProgress"), ("xterm-256color", "RichProgress")])
def test_a_dumb_terminal_gets_progress_lines_not_a_bar_it_cannot_redraw(monkeypatch, term, kind):
    from vlmcli.captions.progress import make_progress

    monkeypatch.setenv("TERM", term)
    progress = make_progress(quiet=False, stream=_Terminal())
    try:
        assert type(progress).__name__ == kind
    finally:
        progress.close()


# --- export, describe headings, models, config ------------------------------------------


def test_export_names_a_missing_image_as_text(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    photos = tmp_path / "in"
    photos.mkdir()
    save_photo(photos / TITLE)
    save_photo(photos / "ok.png")
    run = tmp_path / "captions"
    assert caption_dir(photos, "-o", run, "-q").exit_code == 0
    (photos / TITLE).unlink()
    result = runner.invoke(app, ["export", str(run), "--to", "jsonl", "-o", str(tmp_path / "all.jsonl")])
    assert result.exit_code == 9, result.output
    assert raw_controls(result.stderr) == []
    assert f"skipped: {display_name(photos / TITLE)}" in result.stderr


def test_describe_headings_are_escaped_names(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch, answer=lambda request: "an answer")
    first, second = save_photo(tmp_path / TITLE), save_photo(tmp_path / "two\nlines.png")
    result = runner.invoke(app, ["describe", str(first), str(second)])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"==> {display_name(first)} <==\nan answer\n\n==> {display_name(tmp_path)}/two\\nlines.png <==\nan answer\n"
    )


def add_repo(cache: Path, repo_id: str) -> None:
    """A cached hub repo of a supported family (as tests/test_cli_models.py lays one out)."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").write_bytes(b"\x02" + b"\0" * 7 + b"{}" + b"\0" * 2038)
    (snapshot / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    (snapshot / "config.json").write_text(json.dumps({"model_type": "idefics3"}))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")


def test_models_lists_a_cached_repo_name_as_text(tmp_path):
    cache = tmp_path / "hub-cache"
    add_repo(cache, "org/evil\x1b]0;X\x07")
    add_repo(cache, "org/\u202eevil")
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert raw_controls(result.stdout) == []
    assert "org/evil\\x1b]0;X\\x07" in result.stdout and "org/\\u202eevil" in result.stdout


def test_config_shows_a_value_as_text():
    result = runner.invoke(app, ["config", "-m", "evil\x1b]0;X\x07"])
    assert result.exit_code == 0, result.output
    assert raw_controls(result.stdout) == [] and "evil\\x1b]0;X\\x07" in result.stdout


# --- the model name in the loading spinner ----------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("model", ["runs/[/final]", "[bold red]x[link=http://x]y", "evil\x1b]0;X\x07"])
def test_the_loading_spinner_shows_the_model_name_as_text(monkeypatch, model):
    from vlmcli.commands import _generate, _runtime
    from vlmcli.engine.config import EngineConfig

    err = _Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(_runtime, "load_engine", lambda config: "engine")
    assert _generate.load_with_status(EngineConfig(model=model)) == "engine"  # no MarkupError
    written = err.getvalue()
    assert "\x1b]8;" not in written and "\x1b]0;X" not in written  # no link, no title


# --- answers on a terminal ----------------------------------------------------------------

EVIL = "\x1b]0;PWNED\x07 \x1b[2J \u202eevil\r\x08X \x1b]52;c;SGVsbG8=\x07 caf\u00e9 \U0001F468\u200d\U0001F469\tend"
SHOWN = "\\x1b]0;PWNED\\x07 \\x1b[2J \\u202eevil\\r\\x08X \\x1b]52;c;SGVsbG8=\\x07 caf\u00e9 \U0001F468\u200d\U0001F469\tend"


def _render(out: io.StringIO, tokens: list[str]) -> str:
    from vlmcli.commands._render import Item, TextRenderer
    from vlmcli.engine.events import TokenEvent

    renderer = TextRenderer([Item(inputs=("a.png",))], stream=True, out=out)
    renderer.start()
    for i, token in enumerate(tokens):
        renderer.token(TokenEvent(index=0, token_id=i, text=token))
        assert out.getvalue() != "" or not token  # streamed as it comes
    renderer.close()
    return out.getvalue()


def test_a_streamed_answer_on_a_terminal_shows_its_control_characters():
    tokens = [EVIL[i : i + 3] for i in range(0, len(EVIL), 3)]  # escape sequences cut across tokens
    assert _render(_Terminal(), tokens) == SHOWN + "\n"


def test_a_piped_answer_is_byte_exact():
    assert _render(io.StringIO(), [EVIL]) == EVIL + "\n"


FAKE_ANSWER = textwrap.dedent(
    """
    import sys
    from vlmcli.testing import fakes
    answer = sys.argv.pop(1)
    make = fakes.FakeEngineFactory.__call__
    def call(self, config):
        engine = make(self, config)
        engine.answer = lambda request: answer
        return engine
    fakes.FakeEngineFactory.__call__ = call
    fakes.main_with_fake()
    """
)


def _ask_on_a_terminal(tmp_path: Path, answer: str, *extra: str) -> bytes:
    script = tmp_path / "fake_vlm.py"
    script.write_text(FAKE_ANSWER)
    photo = save_photo(tmp_path / "a.png")
    env = {**os.environ, "VLMCLI_FAKE_ENGINE": "{}", "TERM": "xterm"}
    main, child = pty.openpty()
    with subprocess.Popen(
        [sys.executable, str(script), answer, "ask", str(photo), "What is it?", *extra],
        stdin=subprocess.DEVNULL, stdout=child, stderr=subprocess.DEVNULL, env=env,
    ) as proc:
        os.close(child)
        out = b""
        while True:
            try:
                data = os.read(main, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            out += data
        assert proc.wait(timeout=60) == 0
    os.close(main)
    return out


def test_ask_on_a_terminal_writes_control_characters_as_escapes(tmp_path):
    out = _ask_on_a_terminal(tmp_path, EVIL)
    assert b"\x1b" not in out and b"\x07" not in out and "\u202e".encode() not in out
    assert out.replace(b"\r\n", b"\n") == (SHOWN + "\n").encode()  # the pty turns \n into \r\n


def test_ask_piped_keeps_the_answer_byte_exact(tmp_path):
    script = tmp_path / "fake_vlm.py"
    script.write_text(FAKE_ANSWER)
    photo = save_photo(tmp_path / "a.png")
    env = {**os.environ, "VLMCLI_FAKE_ENGINE": "{}"}
    result = subprocess.run(
        [sys.executable, str(script), EVIL, "ask", str(photo), "What is it?"], capture_output=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (EVIL + "\n").encode()


# --- stderr spells an undecodable byte as stdout and JSON do ----------------------------


def test_stderr_writes_an_undecodable_byte_as_its_hex_escape(monkeypatch):
    from vlmcli.commands._errors import configure_streams

    raw = io.BytesIO()
    err = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    configure_streams()
    err.write("note: " + os.fsdecode(b"bad\xff.png") + " and \u20ac\n")
    assert raw.getvalue() == "note: bad\\xff.png and \u20ac\n".encode()


def test_an_error_line_names_an_undecodable_file_as_stdout_does(tmp_path):
    photos = tmp_path / "in"
    photos.mkdir()
    (photos / os.fsdecode(b"bad\xff.png")).write_bytes(BROKEN)
    env = {**os.environ, "VLMCLI_FAKE_ENGINE": "{}"}
    fake_vlm = "from vlmcli.testing.fakes import main_with_fake; main_with_fake()"
    result = subprocess.run(
        [sys.executable, "-c", fake_vlm, "caption-dir", str(photos), "-o", str(tmp_path / "out"), "--format", "jsonl"],
        capture_output=True, env=env, timeout=60,
    )
    assert result.returncode == 9, result.stderr
    assert b"bad\\xff.png" in result.stderr and b"\\udc" not in result.stderr, result.stderr


def test_video_summarize_shows_model_text_on_a_terminal_and_keeps_it_piped():
    """Segment descriptions and the summary are model text: on a terminal through `visible`."""
    import io

    from vlmcli.commands._terminal import shown

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, pipe = Tty(), io.StringIO()
    shown(tty).write("[0:00-0:05] \x1b]0;PWNED\x07 a cat\n")
    shown(pipe).write("[0:00-0:05] \x1b]0;PWNED\x07 a cat\n")
    assert tty.getvalue() == "[0:00-0:05] \\x1b]0;PWNED\\x07 a cat\n"
    assert pipe.getvalue() == "[0:00-0:05] \x1b]0;PWNED\x07 a cat\n"


def test_the_video_spinner_reads_a_name_as_text_not_markup(monkeypatch):
    from vlmcli.summaries import progress as summary_progress

    shown: list[object] = []

    class Status:
        def __init__(self, text, spinner):
            shown.append(text)

        def start(self):
            pass

        def update(self, text):
            shown.append(text)

    class Console:
        def __init__(self, stderr):
            pass

        def status(self, text, spinner):
            return Status(text, spinner)

    import rich.console

    monkeypatch.setattr(rich.console, "Console", Console)
    bar = summary_progress.TerminalProgress.__new__(summary_progress.TerminalProgress)
    bar._status = None
    bar._show("Reading runs/[/final].mp4")
    bar._show("Describing [link=http://x]clip[/link].mp4")
    assert [t.plain for t in shown] == ["Reading runs/[/final].mp4", "Describing [link=http://x]clip[/link].mp4"]
