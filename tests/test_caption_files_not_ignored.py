"""The caption files a `--format txt` run wrote beside its pictures are not "non-image files"
its rerun ignored (a `--skip-existing` rerun said "ignored 28 non-image files": its own
captions); a `.txt` of no picture still is. Fake engine."""

from __future__ import annotations

import pytest

from vlmcli.captions.discover import discover
from vlmcli.testing.fakes import caption_dir, install_fake_engine, isolate_env, save_photo


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def test_discover_leaves_out_the_txt_beside_a_picture_of_its_name(tmp_path):
    for name in ("a.jpg", "b.png", "clip.mp4", "lone.jpg"):
        (tmp_path / name).write_bytes(b"x")
    captions = ["a.txt", "b.png.txt", "clip.txt"]  # --txt-name stem, filename; a video's
    others = ["notes.txt", "c.txt", "a.jpg.md", "lone.jpg.txt.txt"]
    for name in captions + others:
        (tmp_path / name).write_text("words")
    found = discover(inputs=[str(tmp_path)])
    names = sorted(c.path.rsplit("/", 1)[1] for c in found)
    assert names == sorted(["a.jpg", "b.png", "clip.mp4", "lone.jpg", *others])
    assert found.caption_files == 3
    named = discover(inputs=[str(tmp_path / "a.jpg"), str(tmp_path / "a.txt")])  # named by the user: kept
    assert len(named) == 2 and named.caption_files == 0


def test_a_txt_rerun_does_not_count_its_own_captions_as_ignored(monkeypatch, tmp_path):
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    save_photo(photos / "a.jpg")
    save_photo(photos / "sub" / "b.png", "chelsea")
    (photos / "notes.txt").write_text("the user's own")
    install_fake_engine(monkeypatch)
    first = caption_dir(photos, "--format", "txt")
    assert first["ok"] == 2 and first["ignored"] == 1
    assert (photos / "a.txt").exists() and (photos / "sub" / "b.txt").exists()
    again = caption_dir(photos, "--format", "txt", "--skip-existing")
    assert again["skipped"] == 2 and again["ignored"] == 1  # was 3: its own two caption files
    named = caption_dir(photos, "--format", "txt", "--txt-name", "filename")
    assert named["ok"] == 2 and named["ignored"] == 1  # a.txt is a.jpg's caption under either naming
    assert caption_dir(photos, "--format", "txt", "--txt-name", "filename", "--skip-existing")["ignored"] == 1
