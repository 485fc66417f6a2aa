"""Every case of the bad-input corpus (`vlmcli/testing/media/bad_inputs.py`) through every command.

- `ask` / `describe`: a bad input is exactly one `Error:` line on stderr, exit 3, no
  traceback, and the model is never loaded; an awkward but valid image reaches the engine
  as a correct upright RGB picture.
- `caption-dir`: a folder holding the whole corpus (plus the bad files named explicitly)
  finishes with exit 9, one error row per bad file, and ok rows for every valid image.
- `video-summarize` / `ask` on the video cases: one line, exit 3.
- A few real subprocesses prove that nothing native (decord's C++ log) or Python
  (tracebacks, encoding errors) reaches stderr, and that a FIFO never hangs.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vlmcli.testing.media.bad_inputs import Case, Expect, build_corpus, permissions_apply
from vlmcli.testing.fakes import install_fake_engine, isolate_env
from vlmcli.cli import app
from vlmcli.commands.caption_dir import EXIT_SOME_FAILED
from vlmcli.commands.video_options import VIDEO_MAX_SIDE

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
ANSWER = "A small test picture."


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Case]:
    return build_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def _names(kind: str, expect: Expect | None = None) -> list[str]:
    """Case names without building the corpus (parametrize runs at collection time)."""
    from vlmcli.testing.media import bad_inputs

    images = [(name, e) for name, _, e, _, _ in bad_inputs._image_cases()] + [("non_utf8_name", Expect.OK)]
    videos = [(n, Expect.FAIL) for n in VIDEO_FAIL] + [("video_large_resolution", Expect.OK)]
    return [n for n, e in (images if kind == "image" else videos) if expect in (None, e)]


VIDEO_FAIL = [
    "video_zero_byte", "video_truncated", "video_header_only", "video_no_moov",
    "video_audio_only", "video_zero_frames", "video_text",
]  # fmt: skip


def skip_if_permissions_do_not_apply(case: Case) -> None:
    if case.name == "unreadable" and not permissions_apply():
        pytest.skip("running as root (or with CAP_DAC_OVERRIDE): chmod 000 does not stop reads here")


def assert_one_line_error(result, code: int, needle: str = "") -> str:
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert needle in lines[0], lines[0]
    return lines[0]


def test_the_corpus_is_big_enough(corpus):
    assert len(corpus) >= 30
    assert sum(c.expect is Expect.FAIL for c in corpus.values()) >= 20
    assert {c.name for c in corpus.values()} == set(_names("image")) | set(_names("video"))


# --- ask / describe ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["ask", "describe"])
@pytest.mark.parametrize("name", _names("image", Expect.FAIL))
def test_bad_image_is_one_line_exit_3(monkeypatch, corpus, command, name):
    case = corpus[name]
    skip_if_permissions_do_not_apply(case)
    fake = install_fake_engine(monkeypatch)
    args = [command, str(case.path)] + (["What is this?"] if command == "ask" else [])
    line = assert_one_line_error(runner.invoke(app, args), 3, case.needle)
    assert case.path.name.split("\n")[0] in line  # the message names the file
    assert fake.engines == []  # refused before the model loads


@pytest.mark.parametrize("command", ["ask", "describe"])
def test_unreadable_file_by_injected_permission_error(monkeypatch, corpus, command):
    """Root ignores chmod 000 (the corpus case then skips), so here the kernel's EACCES is
    raised where the file is opened: the same one line, exit 3, for any user."""
    import errno
    import os

    case = corpus["unreadable"]
    real_open = os.open

    def guarded(path, flags, *args, **kwargs):
        if os.fspath(path) == str(case.path):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded)
    fake = install_fake_engine(monkeypatch)
    args = [command, str(case.path)] + (["What is this?"] if command == "ask" else [])
    line = assert_one_line_error(runner.invoke(app, args), 3, case.needle)
    assert case.path.name in line and fake.engines == []


@pytest.mark.parametrize("command", ["ask", "describe"])
@pytest.mark.parametrize("name", _names("image", Expect.OK))
def test_awkward_valid_image_reaches_the_engine_as_rgb(monkeypatch, corpus, command, name):
    case = corpus[name]
    fake = install_fake_engine(monkeypatch, answer=lambda request: ANSWER)
    args = [command, str(case.path)] + (["What is this?"] if command == "ask" else [])
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert ANSWER in result.stdout and "Traceback" not in result.stderr
    (request,) = fake.requests
    if name.startswith("animated_"):  # a moving picture is a clip: its three frames, composed
        (video,) = request.videos
        assert request.images == () and video.frames.shape == (3, 24, 24, 3)
        for frame, colour in zip(video.frames, ([255, 0, 0], [0, 255, 0], [0, 0, 255])):
            assert np.abs(frame[12, 12].astype(int) - colour).max() <= 40
        return
    image = request.images[0].image
    assert image.mode == "RGB"
    check_pixels(name, np.asarray(image))


def check_pixels(name: str, pixels: np.ndarray) -> None:
    """What each valid case must look like after loading (pixels: uint8 (H, W, 3))."""
    height, width, _ = pixels.shape
    red, blue = np.array([220, 20, 20]), np.array([30, 60, 200])
    near = lambda a, b: np.abs(a.astype(int) - b).max() <= 40  # noqa: E731 - JPEG is lossy
    if name == "exif_rotated":  # stored sideways with EXIF orientation 8: must come out upright
        assert (width, height) == (96, 64)
        assert near(pixels[8, 8], red) and near(pixels[8, 88], blue) and near(pixels[56, 8], blue)
    elif name == "one_by_one":
        assert (width, height) == (1, 1)
    elif name == "cmyk_jpeg":
        assert (width, height) == (96, 64) and near(pixels[8, 8], red) and near(pixels[56, 88], blue)
    elif name == "png_16bit":  # the 16-bit ramp is scaled to 8 bits, not clipped to white
        grey = pixels[..., 0].astype(int)
        assert grey[0, 0] == 0 and 240 <= grey[-1, -1] <= 255 and np.all(np.diff(grey.reshape(-1)) >= 0)
    elif name == "palette_transparency":  # transparent half on white, not black
        assert tuple(pixels[16, 4]) == (255, 0, 0) and tuple(pixels[16, 28]) == (255, 255, 255)
    else:  # names with spaces, quotes, newlines, non-UTF-8 bytes: the plain photo
        assert (width, height) == (96, 64) and near(pixels[8, 8], red)


# --- videos -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["ask", "video-summarize"])
@pytest.mark.parametrize("name", VIDEO_FAIL)
def test_bad_video_is_one_line_exit_3(monkeypatch, corpus, command, name):
    case = corpus[name]
    fake = install_fake_engine(monkeypatch)
    args = [command, str(case.path)] + (["What happens?"] if command == "ask" else [])
    line = assert_one_line_error(runner.invoke(app, args), 3, case.needle)
    assert case.path.name in line
    assert fake.engines == []


def test_very_large_video_is_decoded_small(monkeypatch, corpus):
    case = corpus["video_large_resolution"]  # 3840x2160
    fake = install_fake_engine(monkeypatch, answer=lambda request: ANSWER)
    result = runner.invoke(app, ["video-summarize", str(case.path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["video"] == str(case.path)
    clips = [video for request in fake.requests for video in request.videos]
    assert clips and all(max(clip.frames.shape[1:3]) <= VIDEO_MAX_SIDE for clip in clips)


# --- caption-dir ------------------------------------------------------------------------------


def read_rows(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return [row for shard in sorted(out.glob("*.parquet")) for row in pq.read_table(shard).to_pylist()]


def test_caption_dir_writes_an_error_row_per_bad_file_and_goes_on(monkeypatch, corpus, tmp_path):
    folder = corpus["zero_byte"].path.parent
    bad = [c for c in corpus.values() if c.kind == "image" and c.expect is Expect.FAIL]
    good = [c for c in corpus.values() if c.kind == "image" and c.expect is Expect.OK]
    # svg/eps/... get rows only when named; a PDF named is a dataset shard (one run reads one kind),
    # found among pictures it is skipped and counted
    explicit = [str(c.path) for c in bad if c.name not in ("directory_named_jpg", "pdf")]
    fake = install_fake_engine(monkeypatch, answer=lambda request: ANSWER)
    out = tmp_path / "out"
    result = runner.invoke(app, ["caption-dir", str(folder), *explicit, "-o", str(out), "-q", "--batch-size", "4"])
    assert result.exit_code == EXIT_SOME_FAILED, result.output
    assert "Traceback" not in result.stderr
    rows = read_rows(out)
    count = Counter(row["path"] for row in rows)
    assert max(count.values()) == 1  # every file once
    by_path = {row["path"]: row for row in rows}
    stored = {c.name: _stored(c.path) for c in corpus.values()}
    for case in bad:
        if case.name in ("directory_named_jpg", "pdf"):  # a folder is walked, a PDF skipped: neither captioned
            assert stored[case.name] not in by_path
            continue
        if case.name == "unreadable" and not permissions_apply():
            continue  # root reads it: it is a valid photo then
        row = by_path[stored[case.name]]
        assert row["status"] == "error" and row["caption"] is None, case.name
        assert "\n" not in row["error"] and case.needle in row["error"], (case.name, row["error"])
    for case in good:
        row = by_path[stored[case.name]]
        assert (row["status"], row["caption"]) == ("ok", ANSWER), case.name
    assert not any("videos" in p for p in by_path)  # videos are not images

    # a rerun recognises every finished row, the non-UTF-8 name included: nothing is redone
    fake = install_fake_engine(monkeypatch, answer=lambda request: ANSWER)
    result = runner.invoke(app, ["caption-dir", str(folder), *explicit, "-o", str(out), "-q"])
    assert result.exit_code == EXIT_SOME_FAILED
    assert fake.requests == []
    assert Counter(row["path"] for row in read_rows(out)) == count


def _stored(path: Path) -> str:
    """How a path appears in the Parquet `path` column (non-UTF-8 bytes as \\xNN escapes)."""
    from vlmcli.media.names import utf8_text

    return utf8_text(str(path))


def test_caption_dir_jsonl_with_awkward_names(monkeypatch, corpus, tmp_path):
    install_fake_engine(monkeypatch, answer=lambda request: ANSWER)
    names = ["name_with_spaces", "name_with_quotes", "name_with_newline", "non_utf8_name", "newline_name_broken"]
    paths = [str(corpus[n].path) for n in names]
    out = tmp_path / "out"
    result = runner.invoke(app, ["caption-dir", *paths, "-o", str(out), "--format", "jsonl", "-q"])
    assert result.exit_code == EXIT_SOME_FAILED, result.output
    lines = (out / "part-00000.jsonl").read_text(encoding="utf-8").splitlines()
    rows = {json.loads(line)["path"]: json.loads(line) for line in lines}
    assert set(rows) == {_stored(Path(p)) for p in paths}
    assert rows[str(corpus["name_with_newline"].path)]["status"] == "ok"
    assert rows[str(corpus["newline_name_broken"].path)]["status"] == "error"


# --- real subprocesses: nothing but the one line reaches stderr --------------------------------


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLM_")}
    env["PYTHONPATH"] = str(ROOT)
    code = "from vlmcli.testing.fakes import main_with_fake; main_with_fake()"
    argv = [sys.executable, "-c", code, *args]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=timeout)


@pytest.mark.parametrize(
    ("name", "command"),
    [("fifo", "ask"), ("video_no_moov", "ask"), ("video_truncated", "video-summarize"), ("newline_name_broken", "describe")],
)
def test_subprocess_one_line_no_traceback(corpus, name, command):
    case = corpus[name]
    args = [command, str(case.path)] + (["What is this?"] if command == "ask" else [])
    done = run_cli(*args, timeout=60)  # a FIFO that blocked would time out here
    assert done.returncode == 3, done.stderr
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr  # no decord C++ log line
    assert done.stdout == b""


def test_subprocess_non_utf8_name_round_trips(corpus):
    path = corpus["non_utf8_name"].path
    done = run_cli("ask", str(path), "What is this?")
    assert done.returncode == 0, done.stderr
    assert os.fsencode(path) in done.stdout  # the fake echoes the name: written back as the original bytes
    done = run_cli("describe", str(path), "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout.decode("utf-8"))  # JSON stays valid UTF-8: the name is escaped...
    assert base64.b64decode(record["images"][0]["path_bytes"]) == os.fsencode(path)  # ...and recoverable
