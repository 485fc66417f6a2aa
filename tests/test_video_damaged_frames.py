"""A video with a damaged packet (a bad copy, a dropped network chunk): players and ffmpeg skip
the packet and show the rest. Before, the packet's decode error stopped the whole read: the
file failed `ask`, `describe`, `caption-dir` and `video-summarize` ("Could not decode ... after
frame 27"), and its scene scan was abandoned. Now a frame that will not decode is replaced by
its nearest neighbour that does, and the commands say which (a warning line, --json)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.testing.fakes import install_fake_engine, isolate_env
from vlmcli.testing.media.video_clips import clip_set
from vlmcli.video.decode import damage_note, probe, read_frames
from vlmcli.video.decode_pyav import PyAVReader

DAMAGED = 30  # the frame whose packet is broken
REFERENCE = Path(__file__).resolve().parents[1] / "models" / "reference"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def damaged(tmp_path):
    """clip_set().motion with frame 30's packet broken: its first NAL's length says 4 GiB."""
    source = clip_set().motion.path
    data = bytearray(source.read_bytes())
    with av.open(str(source)) as container:
        packets = sorted((p.pts, p.pos) for p in container.demux(container.streams.video[0]) if p.size)
    position = packets[DAMAGED][1]
    data[position : position + 4] = b"\xff\xff\xff\xff"
    path = tmp_path / "damaged.mp4"
    path.write_bytes(bytes(data))
    return path


def test_the_damaged_packet_is_skipped_and_every_other_frame_is_exact(damaged):
    truth = PyAVReader(str(clip_set().motion.path)).read(np.arange(100))  # (100, H, W, 3) the undamaged clip
    info = probe(damaged)
    frames = read_frames(damaged, range(info.frame_count), info=info)
    assert frames.replaced == ((DAMAGED, None),)  # its neighbours are all shown already
    assert list(frames.indices) == [i for i in range(100) if i != DAMAGED]
    assert (frames.pixels[:DAMAGED] == truth[:DAMAGED]).all()  # before it: exact (after it: concealed references)
    stand_in = read_frames(damaged, [10, DAMAGED, 50], info=info)
    assert stand_in.indices == (10, DAMAGED + 1, 50) and stand_in.replaced == ((DAMAGED, DAMAGED + 1),)
    assert damage_note(stand_in.replaced) == f"1 frame would not decode (damaged data): frame {DAMAGED} replaced by frame {DAMAGED + 1}"


def test_describe_warns_and_reports_the_stand_in(damaged):
    args = ["describe", str(damaged), "-m", str(REFERENCE), "--max-tokens", "2", "--sampling", "uniform", "--frames", "100", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"warning: {damaged}: 1 frame would not decode (damaged data): frame {DAMAGED} left out" in result.stderr
    sampling = json.loads(result.stdout)["videos"][0]["sampling"]
    assert sampling["damaged"].startswith("1 frame would not decode") and len(sampling["frames"]) == 99


def test_video_summarize_goes_on_and_warns(monkeypatch, damaged):
    install_fake_engine(monkeypatch)
    result = CliRunner().invoke(app, ["video-summarize", str(damaged), "--frames", "100", "--segment-seconds", "60", "--no-scenes", "--json"])
    assert result.exit_code == 0, result.output
    warnings = json.loads(result.stdout)["warnings"]
    assert any(f"frame {DAMAGED} left out" in w for w in warnings)


def test_the_scene_scan_reads_around_the_damage(damaged):
    from vlmcli.video.sample import sample_video

    sampled = sample_video(damaged, method="keyframe", max_side=32)
    assert sampled.scan is not None and sampled.scan.degraded is None  # before: "the scene scan failed"
    assert len(sampled.frames) >= 2


def test_caption_dir_rows_keep_the_note(damaged, tmp_path):
    """Before, a caption row gave no sign that its clip was read around damage (only --debug)."""
    from vlmcli.sinks.parquet import read_parquet_shard

    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "damaged.mp4").write_bytes(damaged.read_bytes())
    (folder / "fine.mp4").write_bytes(clip_set().motion.path.read_bytes())
    out = tmp_path / "out"
    args = ["caption-dir", str(folder), "-o", str(out), "-m", str(REFERENCE), "--videos", "--max-tokens", "2",
            "--sampling", "uniform", "--frames", "100"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = {Path(r["path"]).name: r for shard in sorted(out.glob("*.parquet")) for r in read_parquet_shard(shard)}
    assert rows["fine.mp4"]["notes"] is None and rows["fine.mp4"]["status"] == "ok"
    damaged_row = rows["damaged.mp4"]
    assert damaged_row["status"] == "ok" and damaged_row["caption"]
    assert damaged_row["notes"] == f"1 frame would not decode (damaged data): frame {DAMAGED} left out (its neighbours are damaged or already shown)."
    assert f"warning: {folder / 'damaged.mp4'}: 1 frame would not decode" in result.stderr  # as it happens
    assert "1 file read with notes (the notes column)" in result.stderr  # and in the summary
    page = tmp_path / "report.html"
    shown = CliRunner().invoke(app, ["report", str(out), "-o", str(page)])
    assert shown.exit_code == 0, shown.output
    assert f'<div class="note">1 frame would not decode (damaged data): frame {DAMAGED} left out' in page.read_text()
