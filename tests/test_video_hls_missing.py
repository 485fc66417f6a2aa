"""An HLS folder a download left part-way: a missing segment is said (named, and how many), the
rest read; a playlist none of whose segments is there is refused.

Before: the missing segment was skipped silently (exit 0, no warning), and a playlist with
none gave ffmpeg's bare failure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.test_video_playlists import REFERENCE, hls_folder
from vlmcli.cli import app
from vlmcli.errors import VideoError
from vlmcli.testing.fakes import isolate_env
from vlmcli.video.decode import probe
from vlmcli.video.playlists import missing_note

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def _copy(tmp_path: Path, *, without: list[str]) -> Path:
    folder = tmp_path / "stream"
    shutil.copytree(hls_folder(), folder)
    for name in without:
        (folder / name).unlink()
    return folder / "play.m3u8"


def test_a_missing_segment_is_named_and_counted(tmp_path):
    playlist = _copy(tmp_path, without=["play2.ts"])
    assert 40 < probe(playlist).frame_count < 60  # the other segments are read
    note = missing_note(str(playlist), shown_as="stream/play.m3u8")
    assert note.startswith("stream/play.m3u8: 1 of its 6 segments is missing (play2.ts;")
    assert missing_note(str(hls_folder() / "play.m3u8")) is None
    many = missing_note(str(_copy(tmp_path / "more", without=["play1.ts", "play2.ts", "play3.ts", "play4.ts"])))
    assert "4 of its 6 segments are missing (play1.ts, play2.ts, play3.ts and 1 more;" in many


def test_ask_warns_of_the_missing_segment(tmp_path):
    playlist = _copy(tmp_path, without=["play4.ts"])
    result = runner.invoke(app, ["ask", "-m", str(REFERENCE), str(playlist), "What happens?", "--max-tokens", "2",
                                 "--json", "--frames", "4"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "1 of its 6 segments is missing (play4.ts" in result.stderr
    (video,) = json.loads(result.stdout)["videos"]
    assert any("play4.ts" in w for w in video["sampling"]["warnings"])


def test_a_playlist_without_any_segment_is_refused(tmp_path):
    playlist = _copy(tmp_path, without=[f"play{k}.ts" for k in range(6)])
    with pytest.raises(VideoError, match=r"play\.m3u8 is an HLS playlist whose 6 segment\(s\) are all missing \(play0\.ts, play1\.ts, play2\.ts, \.\.\.\)"):
        probe(playlist)


def test_video_summarize_warns_of_the_missing_segment(tmp_path):
    """video-summarize prints the notes the file tells (`reading_notes.file_notes`), as ask does:
    before, it printed only which stream of several it read."""
    playlist = _copy(tmp_path, without=["play4.ts"])
    result = runner.invoke(app, ["video-summarize", "-m", str(REFERENCE), str(playlist), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "1 of its 6 segments is missing (play4.ts" in result.stderr
    assert any("play4.ts" in w for w in json.loads(result.stdout)["warnings"])
