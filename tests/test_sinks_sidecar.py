"""`.txt` sidecars: beside each image, atomic, never over an image, refuse/overwrite/skip."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from vlmcli.errors import ConfigError, OutputError
from vlmcli.sinks import ExistingPolicy, OutputFormat, SinkConfig, make_sink
from vlmcli.sinks.sidecar import sidecar_path


def row(path, status="ok", caption="a cat"):
    base = dict.fromkeys(
        ["key", "error", "caption", "model_revision", "width", "height", "visual_tokens", "prompt_tokens", "completion_tokens", "latency_ms"]
    )
    return base | {
        "path": str(path),
        "status": status,
        "caption": caption if status == "ok" else None,
        "error": None if status == "ok" else "broken",
        "prompt": "p",
        "model": "m",
        "config_hash": "c",
        "created_at": datetime.now(timezone.utc),
    }


def sidecars(policy=ExistingPolicy.REFUSE):
    return make_sink(OutputFormat.TXT, SinkConfig(existing=policy))


def test_sidecar_names():
    assert sidecar_path("a/b/photo.jpg") == Path("a/b/photo.txt")
    assert sidecar_path("noext") == Path("noext.txt")


def test_writes_ok_rows_only(tmp_path):
    out = sidecars()
    out.write([row(tmp_path / "a.jpg"), row(tmp_path / "b.jpg", status="error")])
    assert (tmp_path / "a.txt").read_text() == "a cat\n"
    assert not (tmp_path / "b.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]  # no temp files


def test_collisions_and_self_overwrite_are_refused_per_image(tmp_path):
    paths = [str(tmp_path / "a.jpg"), str(tmp_path / "a.png"), str(tmp_path / "x.txt")]
    bad = sidecars().preflight(paths)
    assert set(bad) == set(paths)  # a shared caption file: neither image is captioned (README)
    assert "also be the caption file of" in bad[paths[1]] and "--txt-name filename" in bad[paths[0]]
    assert "replace the image itself" in bad[paths[2]]


def test_existing_captions_refused_skipped_or_overwritten(tmp_path):
    image = str(tmp_path / "a.jpg")
    (tmp_path / "a.txt").write_text("mine\n")
    with pytest.raises(OutputError, match="--skip-existing.*--overwrite"):
        sidecars().resume_state(paths=[image], config_hashes=frozenset())
    assert sidecars(ExistingPolicy.SKIP).resume_state(paths=[image], config_hashes=frozenset()).done_paths == {image}
    out = sidecars(ExistingPolicy.OVERWRITE)
    assert not out.resume_state(paths=[image], config_hashes=frozenset()).done_paths
    out.write([row(image, caption="new")])
    assert (tmp_path / "a.txt").read_text() == "new\n"


def test_output_folder_is_not_for_txt(tmp_path):
    with pytest.raises(ConfigError, match="beside"):
        make_sink(OutputFormat.TXT, SinkConfig(output=tmp_path))
