"""Every failure: one `Error:` line on stderr, the documented exit code, no traceback."""

from __future__ import annotations

import builtins

import pytest
from typer.testing import CliRunner

from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo
from vlmcli import errors
from vlmcli.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def photo(tmp_path):
    return str(save_photo(tmp_path / "astronaut.jpg"))


def assert_one_line_error(result, code: int, needle: str = "") -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert needle in lines[0]
    return lines[0]


def _bad_inputs(tmp_path):
    full = save_photo(tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(full[:5000])
    (tmp_path / "text.jpg").write_text("not really a photo\n")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 32)
    (tmp_path / "folder").mkdir()
    return {
        "missing": (str(tmp_path / "missing.jpg"), "No such file"),
        "directory": (str(tmp_path / "folder"), "is a directory"),
        "truncated": (str(tmp_path / "cut.jpg"), "truncated"),
        "text named .jpg": (str(tmp_path / "text.jpg"), "is not an image"),
        "empty": (str(tmp_path / "empty.png"), "is empty"),
        "video": (str(tmp_path / "clip.mp4"), "as a video"),  # an ftyp box, then zeros: no boxes to tell by
        "url": ("https://example.com/cat.jpg", "it does not download"),
        "file url": ("file:///photos/My%20Cat.jpg", "names a local file: pass its path, '/photos/My Cat.jpg'"),
    }


@pytest.mark.parametrize(
    "case", ["missing", "directory", "truncated", "text named .jpg", "empty", "video", "url", "file url"]
)
def test_bad_input_exits_3_before_loading_the_model(monkeypatch, tmp_path, case):
    fake = install_fake_engine(monkeypatch)
    path, needle = _bad_inputs(tmp_path)[case]
    line = assert_one_line_error(runner.invoke(app, ["ask", path, "What is this?"]), 3, needle)
    assert path in line
    assert fake.engines == []


def test_describe_reports_a_broken_video(monkeypatch, tmp_path):
    fake = install_fake_engine(monkeypatch)
    path, _ = _bad_inputs(tmp_path)["video"]
    assert path in assert_one_line_error(runner.invoke(app, ["describe", path]), 3, "as a video")
    assert fake.engines == []


def test_stdin_twice(monkeypatch):
    install_fake_engine(monkeypatch)
    assert_one_line_error(runner.invoke(app, ["ask", "-", "-", "Q?"], input=b"x"), 2, "only once")  # a usage mistake


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["ask", "PHOTO"], "must be the question"),
        (["ask", "PHOTO", "   "], "question (last argument) is empty"),
        (["ask", "--top-p", "3", "PHOTO", "Q?"], "top_p"),
    ],
)
def test_usage_errors_exit_2(monkeypatch, photo, args, needle):
    install_fake_engine(monkeypatch)
    args = [photo if a == "PHOTO" else a for a in args]
    assert_one_line_error(runner.invoke(app, args), 2, needle)


def test_typer_usage_error_exits_2(monkeypatch):
    install_fake_engine(monkeypatch)
    assert runner.invoke(app, ["ask", "--no-such-flag", "Q?"]).exit_code == 2


def test_bad_config_file_exits_2_naming_the_file(monkeypatch, tmp_path, photo):
    install_fake_engine(monkeypatch)
    config = tmp_path / "xdg-config" / "vlmcli" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("max_tokens = = 3\n")
    for args in (["ask", photo, "Q?"], ["config"]):
        assert str(config) in assert_one_line_error(runner.invoke(app, args), 2, "not valid TOML")


def test_bad_env_value_exits_2(monkeypatch, photo):
    install_fake_engine(monkeypatch)
    monkeypatch.setenv("VLM_MAX_TOKENS", "plenty")
    assert_one_line_error(runner.invoke(app, ["ask", photo, "Q?"]), 2, "VLM_MAX_TOKENS")


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.ModelNotFoundError("Model org/nothing was not found on the hub or in the cache."), 4),
        (errors.UnsupportedModelError("org/bert is a bert model; vlmcli supports idefics3, qwen2_vl, llava."), 4),
        (errors.UnsafeModelError("org/m only has pickled weights; pass --allow-pickle to load them."), 4),
        (errors.BackendUnavailableError("decord is not installed; pip install decord."), 7),
    ],
)
def test_engine_load_errors(monkeypatch, photo, exc, code):
    install_fake_engine(monkeypatch, load_error=exc)
    assert_one_line_error(runner.invoke(app, ["ask", photo, "Q?"]), code, str(exc))


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.ContextLengthError("The prompt needs 9000 tokens; the model allows 8192."), 5),
        (errors.ResourceError("CUDA ran out of memory."), 6),
        (errors.OutputError("Cannot write results."), 8),
        (MemoryError(), 6),
    ],
)
def test_errors_while_generating(monkeypatch, photo, exc, code):
    install_fake_engine(monkeypatch, raise_exc=exc)
    result = runner.invoke(app, ["ask", photo, "Q?"])
    assert result.exit_code == code
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("Error: ")


def test_error_mid_answer_ends_the_stdout_line(monkeypatch, photo):
    install_fake_engine(monkeypatch, raise_exc=errors.ResourceError("out of memory"), raise_after_tokens=2)
    result = runner.invoke(app, ["ask", photo, "Q?"])
    assert result.exit_code == 6
    assert result.stdout.endswith("\n") and result.stdout.count("\n") == 1


def test_unexpected_exception_is_one_line_exit_1(monkeypatch, photo):
    install_fake_engine(monkeypatch, raise_exc=RuntimeError("kaboom\nsecond line"), raise_after_tokens=0)
    line = assert_one_line_error(runner.invoke(app, ["ask", photo, "Q?"]), 1, "unexpected RuntimeError: kaboom second line")
    assert "--debug" in line


def test_debug_shows_the_traceback(monkeypatch, photo):
    install_fake_engine(monkeypatch, load_error=errors.ModelNotFoundError("no such model"))
    result = runner.invoke(app, ["ask", "--debug", photo, "Q?"])
    assert result.exit_code == 4
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1] == "Error: no such model"


def test_vlm_debug_env_shows_the_traceback(monkeypatch, photo):
    install_fake_engine(monkeypatch, raise_exc=RuntimeError("kaboom"))
    monkeypatch.setenv("VLM_DEBUG", "1")
    assert "Traceback" in runner.invoke(app, ["ask", photo, "Q?"]).stderr


def test_keyboard_interrupt_exits_130_quietly(monkeypatch, photo):
    install_fake_engine(monkeypatch, raise_exc=KeyboardInterrupt(), raise_after_tokens=1)
    result = runner.invoke(app, ["ask", photo, "Q?"])
    assert result.exit_code == 130
    assert result.stderr == "Interrupted.\n"


def test_missing_torch_is_a_backend_error(monkeypatch):
    """The real seam: if the engine cannot import torch, the user is told what to install."""
    from vlmcli.commands import _runtime
    from vlmcli.engine.config import EngineConfig

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "vlmcli.engine.engine":
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(errors.BackendUnavailableError, match="torch is not installed"):
        _runtime.load_engine(EngineConfig(model="org/model"))


def test_a_file_named_like_an_option_gets_a_hint(monkeypatch, tmp_path):
    """`vlm ask -1.jpg "q"`: Click reads -1.jpg as options; the error says how to pass the file."""
    install_fake_engine(monkeypatch)
    monkeypatch.chdir(tmp_path)
    save_photo(tmp_path / "-1.jpg")
    result = runner.invoke(app, ["ask", "-1.jpg", "What is it?"])
    assert result.exit_code == 2
    assert "(-1.jpg is a file: write ./-1.jpg, or put -- before the file names)" in result.stderr
    assert "is a file" not in runner.invoke(app, ["ask", "-x", "What is it?"]).stderr  # a plain typo: no hint
    for spelled in (["./-1.jpg"], ["--", "-1.jpg"]):
        assert runner.invoke(app, ["ask", *spelled, "What is it?"]).exit_code == 0


def test_dash_file_hint_rules():
    from vlmcli.commands._usage import dash_file_hint

    files = {"-1.jpg", "--odd.png", "-"}
    exists = files.__contains__
    assert dash_file_hint(["ask", "-1.jpg", "q"], exists=exists) == " (-1.jpg is a file: write ./-1.jpg, or put -- before the file names)"
    assert dash_file_hint(["--odd.png"], exists=exists).startswith(" (--odd.png is a file")
    assert dash_file_hint(["-", "--max-tokens=3", "-x"], exists=exists) is None  # stdin, an option, a typo
    assert dash_file_hint(["--", "-1.jpg"], exists=exists) is None  # already a file name


def test_a_missing_file_under_another_spelling_is_pointed_at(tmp_path, monkeypatch):
    """`vlm describe "~/photo.jpg"` (quoted: the shell leaves ~ alone) and IMG_1.JPG for
    img_1.jpg on a case-sensitive file system were a bare "No such file"."""
    install_fake_engine(monkeypatch)  # the input's error, whatever the network (no hub lookup of the model)
    save_photo(tmp_path / "img_1.jpg")
    monkeypatch.setenv("HOME", str(tmp_path))
    line = assert_one_line_error(runner.invoke(app, ["describe", "~/img_1.jpg"]), 3, "No such file: ~/img_1.jpg")
    assert line.endswith(f"The shell did not expand ~ (it was quoted): pass {tmp_path / 'img_1.jpg'}")
    line = assert_one_line_error(runner.invoke(app, ["describe", str(tmp_path / "IMG_1.JPG")]), 3)
    assert line.endswith(f"(did you mean {tmp_path / 'img_1.jpg'}?)")


def test_a_missing_name_that_is_there_in_another_form_is_explained(monkeypatch, tmp_path):
    """A name in NFC (typed, or in a list) for a file stored in NFD (as macOS writes names), a
    name with trailing blanks (a --files-from list), a dangling symbolic link: each was a bare
    "No such file" naming what looks like an existing file."""
    import unicodedata

    install_fake_engine(monkeypatch)  # the input's error, whatever the network (no hub lookup of the model)
    save_photo(tmp_path / unicodedata.normalize("NFD", "café.jpg"))
    nfc = str(tmp_path / unicodedata.normalize("NFC", "café.jpg"))
    line = assert_one_line_error(runner.invoke(app, ["describe", nfc]), 3, f"No such file: {nfc}")
    assert "its accents encoded another way, 'cafe\\u0301.jpg', as macOS writes names" in line
    save_photo(tmp_path / "a.jpg")
    line = assert_one_line_error(runner.invoke(app, ["describe", f"{tmp_path / 'a.jpg'}  "]), 3)
    assert line.endswith(f"has blanks around it; the file is {tmp_path / 'a.jpg'})")
    (tmp_path / "link.jpg").symlink_to("gone.jpg")
    line = assert_one_line_error(runner.invoke(app, ["describe", str(tmp_path / "link.jpg")]), 3)
    assert line.endswith("link.jpg: it is a symbolic link to gone.jpg, which does not exist")
    line = assert_one_line_error(runner.invoke(app, ["describe", str(tmp_path / "other.jpg")]), 3)
    assert line.endswith("other.jpg")  # nothing near it: no guess


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["ask", "photo.jpg", "hi", "--bogus"], "Error: No such option: --bogus (vlm ask -h lists the options)."),
        (["--bogus"], "Error: No such option: --bogus (vlm -h lists the options)."),
        (["describe", "x", "--detail", "bogus"], "Error: Invalid value for '--detail': 'bogus' is not one of"),
        (["ask", "-m"], "Error: Option '-m' requires an argument."),
        (["caption-dir", "x", "--batch-size", "-3"], "Error: Invalid value for '--batch-size': "),
    ],
)
def test_usage_errors_are_one_line_too(args, line):
    """Before: Click's synopsis, a 'Try ... for help.' line and a blank line came first (4 lines)."""
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(line), result.stderr


def test_a_bare_command_still_shows_its_help():
    result = CliRunner().invoke(app, ["ask"])
    assert result.exit_code == 2 and "Usage: vlm ask" in result.output and "Ask a question" in result.output


def test_a_missing_video_gets_the_hints_a_missing_picture_gets(monkeypatch, tmp_path):
    """`Still.mp4` for `still.mp4`, `"~/clip.mp4"` quoted: "Video file not found", no hint."""
    from vlmcli.testing.media.video_clips import clip_set

    install_fake_engine(monkeypatch)  # the input's error, whatever the network (no hub lookup of the model)
    (tmp_path / "still.mp4").write_bytes(clip_set().motion.path.read_bytes())
    line = assert_one_line_error(runner.invoke(app, ["ask", str(tmp_path / "Still.mp4"), "What happens?"]), 3)
    assert line.endswith(f"Video file not found: {tmp_path / 'Still.mp4'} (did you mean {tmp_path / 'still.mp4'}?)")


def test_a_mistyped_command_ends_with_its_question_mark():
    """`vlm ak` ended "Did you mean 'ask'?." (a full stop after the question mark)."""
    from typer.testing import CliRunner

    from vlmcli.cli import app

    result = CliRunner().invoke(app, ["ak"])
    assert result.exit_code == 2 and result.stderr == "Error: No such command 'ak'. Did you mean 'ask'?\n"
