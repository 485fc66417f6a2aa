"""`vlm ask/describe/video-summarize '<shard>::<key>'`: a row's `path`, copied from caption-dir's
output, an error line or the report, names one item of a dataset shard. It was "No such
file"; now the item is read from its shard and answered exactly as the same file is."""

from __future__ import annotations

import json
import tempfile

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.exports.results import read_results
from vlmcli.inputs.item_address import split_address
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import caption_dir, install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes, write_video_webdataset, write_webdataset
from vlmcli.testing.media.video_clips import clip_set

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # an item's temporary file must not stay


def _leftovers(tmp_path) -> list[str]:
    return [p.name for p in (tmp_path / "tmp").iterdir() if p.name.startswith("vlm-")]


def test_an_address_is_an_existing_shard_and_a_key(tmp_path):
    (shard,) = write_webdataset(tmp_path / "wds", sample_photos()[:2], shards=1, broken=False)
    assert split_address(f"{shard}::000000001") == (shard, "000000001")
    assert split_address(f"{shard}::") is None and split_address(f"{tmp_path}/gone.tar::1") is None
    odd = tmp_path / "a::b.jpg"  # a file whose name holds "::" is that file
    odd.write_bytes(jpeg_bytes(sample_photos()[0]))
    assert split_address(str(odd)) is None
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(jpeg_bytes(sample_photos()[0]))
    assert split_address(f"{photo}::x") is None  # a picture is no shard


def test_ask_on_a_row_path_answers_as_on_the_file(tiny_checkpoint, tmp_path):
    model = str(tiny_checkpoint("smolvlm"))
    photos = sample_photos()[:3]
    write_webdataset(tmp_path / "wds", photos, shards=1, broken=False)
    caption_dir(tmp_path / "wds", "-o", tmp_path / "out", "-m", model, "--max-tokens", 3)
    row = sorted(read_results(tmp_path / "out"), key=lambda r: r["source_key"])[1]  # its path: "<shard>::<key>"
    (tmp_path / "same.jpg").write_bytes(jpeg_bytes(photos[1]))
    asked = [
        runner.invoke(app, ["ask", source, "What is this?", "-m", model, "--max-tokens", "6", "--json"])
        for source in (row["path"], str(tmp_path / "same.jpg"))
    ]
    assert all(r.exit_code == 0 for r in asked), [r.output for r in asked]
    item, file = (json.loads(r.stdout) for r in asked)
    assert item["text"] == file["text"] and item["prompt_tokens"] == file["prompt_tokens"]
    assert item["images"][0]["path"] == row["path"] and item["images"][0]["visual_tokens"] == file["images"][0]["visual_tokens"]


def test_describe_names_a_missing_key_and_goes_on(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    (shard,) = write_webdataset(tmp_path / "wds", sample_photos()[:2], shards=1, broken=False)
    result = runner.invoke(app, ["describe", f"{shard}::000000000", f"{shard}::nope"])
    assert result.exit_code == 9, result.output
    assert f"{shard}::000000000" in result.stdout
    assert f"{shard}::nope: {shard} has no item with the key 'nope'." in result.stderr


def test_video_summarize_reads_a_clip_from_its_shard(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    clips = clip_set()
    shard = write_video_webdataset(tmp_path / "v2d", [("mp4", clips.cuts_a.path.read_bytes()), ("mp4", clips.truncated.read_bytes())])
    result = runner.invoke(app, ["video-summarize", f"{shard}::000000000", "--json", "-q"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["video"] == f"{shard}::000000000" and summary["segments"]
    broken = runner.invoke(app, ["video-summarize", f"{shard}::000000001", "-q"])
    assert broken.exit_code == 3
    assert f"{shard}::000000001" in broken.stderr and "vlm-clips" not in broken.stderr
    asked = runner.invoke(app, ["ask", f"{shard}::000000000", "What happens?", "--frames", "3"])
    assert asked.exit_code == 0, asked.output
    assert _leftovers(tmp_path) == []
