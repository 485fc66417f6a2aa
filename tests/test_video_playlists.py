"""HLS playlists of local segments (what stream downloaders leave) read as the one video they
index; playlists of remote segments and DASH manifests refused, never fetched.

Before: `vlm ask stream.m3u8` was refused ("join its segments first") while `video-summarize`
read it, and a playlist of URLs would have had ffmpeg download its segments."""

from __future__ import annotations

import functools
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.errors import VideoError
from vlmcli.testing.fakes import isolate_env
from vlmcli.testing.media.video_clips import ffmpeg_exe, read_index, render_indexed
from vlmcli.video.backends import open_video
from vlmcli.video.decode import probe
from vlmcli.video.playlists import remote_entry

runner = CliRunner()
REFERENCE = Path(__file__).resolve().parents[1] / "models" / "reference"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@functools.cache
def hls_folder() -> Path:
    """60 indexed frames at 10 fps as ffmpeg's HLS muxer writes them: a playlist and six 1 s .ts segments."""
    folder = Path(tempfile.mkdtemp(prefix="vlmcli-hls-"))
    frames = render_indexed(60, width=64, height=48)
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", "64x48", "-r", "10", "-i", "-", "-c:v", "libx264", "-g", "10", "-pix_fmt", "yuv420p",
               "-f", "hls", "-hls_time", "1", "-hls_list_size", "0", "play.m3u8"]  # fmt: skip
    subprocess.run(command, input=frames.tobytes(), check=True, capture_output=True, cwd=folder)
    return folder


def test_remote_entries_are_found_in_lines_and_tags():
    assert remote_entry(b"#EXTM3U\n#EXTINF:1,\nseg0.ts\n#EXTINF:1,\nhttps://cdn.example/seg1.ts\n") == "https://cdn.example/seg1.ts"
    assert remote_entry(b'#EXTM3U\n#EXT-X-MAP:URI="https://cdn.example/init.mp4"\nseg0.m4s\n') == "https://cdn.example/init.mp4"
    assert remote_entry(b'#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:2,\nseg0.m4s\nfile:///tmp/seg1.m4s\n') is None


def test_every_frame_of_a_local_playlist_is_read_exactly():
    playlist = hls_folder() / "play.m3u8"
    info = probe(playlist)
    assert (info.frame_count, info.decoder) == (60, "pyav") and info.duration_s == pytest.approx(6.0)
    reader = open_video(str(playlist), None)
    wanted = [35, 3, 59, 0, 21, 22, 10]  # across segments, back and forth
    assert [read_index(frame) for frame in reader.read(np.array(wanted))] == wanted


def test_ask_takes_the_playlist_as_one_video():
    result = runner.invoke(app, ["ask", "-m", str(REFERENCE), str(hls_folder() / "play.m3u8"), "What happens?",
                                 "--max-tokens", "2", "--json", "--frames", "6"])
    assert result.exit_code == 0, result.output
    (video,) = json.loads(result.stdout)["videos"]
    assert video["decoder"] == "pyav" and video["frames"] == 6


def test_remote_playlists_and_dash_are_refused_not_fetched(tmp_path):
    remote = tmp_path / "live.m3u8"
    remote.write_text("#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:1.0,\nhttps://cdn.example/seg0.ts\n#EXT-X-ENDLIST\n")
    with pytest.raises(VideoError, match=r"live\.m3u8 is an HLS playlist of remote segments \(https://cdn\.example/seg0\.ts\); vlmcli reads local files and does not download"):
        probe(remote)
    dash = tmp_path / "stream.mpd"
    dash.write_text('<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011"></MPD>')
    with pytest.raises(VideoError, match=r"stream\.mpd is a DASH manifest.*ffmpeg -i \S*stream\.mpd -c copy stream\.mp4"):
        probe(dash)
    result = runner.invoke(app, ["describe", "-m", str(REFERENCE), str(remote), "--max-tokens", "2"])
    assert result.exit_code == 3 and "does not download" in result.stderr and len(result.stderr.splitlines()) == 1


def test_ffmpeg_is_held_to_local_files(monkeypatch):
    """Whatever a playlist names, ffmpeg may open only files: its protocol whitelist is 'file'."""
    import av

    from vlmcli.video.pyav_container import open_container

    seen = {}
    real_open = av.open

    def spy(*args, **kwargs):
        seen.update(kwargs.get("options") or {})
        return real_open(*args, **kwargs)

    monkeypatch.setattr(av, "open", spy)
    open_container(str(hls_folder() / "play.m3u8")).close()
    assert seen == {"protocol_whitelist": "file"}
