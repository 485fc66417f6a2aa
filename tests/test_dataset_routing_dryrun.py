"""`--dry-run` sees the shards a run reads, however they are named: a `--glob`, a
`--files-from` list, a DatasetDict's splits (each named with its split in the "Dataset:"
line, where both were `data-00000-of-00001.arrow: 4, data-00000-of-00001.arrow: 3`)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import caption_dir as caption, install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes

PHOTOS = sample_photos()[:4]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)


def _shards(folder):
    import webdataset

    folder.mkdir(parents=True)
    with webdataset.ShardWriter(str(folder / "shard-%05d.tar"), maxcount=2, verbose=0) as sink:
        for i, photo in enumerate(PHOTOS):
            sink.write({"__key__": f"k{i}", "jpg": jpeg_bytes(photo)})
    return sorted(folder.glob("shard-*.tar"))


def test_the_dry_run_of_a_glob_or_a_list_of_shards_counts_the_shards(tmp_path):
    shards = _shards(tmp_path / "wds")
    listing = tmp_path / "shards.txt"
    listing.write_text("".join(f"{s}\n" for s in shards))
    for args in (["--glob", str(tmp_path / "wds" / "shard-*.tar")], ["--files-from", listing]):
        report = caption(*args, "-o", tmp_path / "out", "--dry-run")
        assert [s["source"] for s in report["dataset"]["shards"]] == [str(s.resolve()) for s in shards], args
        assert report["rows"] == 4 and report["known_errors"] == 0


def test_the_dry_run_line_names_each_split(tmp_path):
    from datasets import Dataset, DatasetDict, Features, Image

    features = Features({"image": Image()})

    def one(photos):
        return Dataset.from_dict({"image": [{"bytes": jpeg_bytes(p), "path": None} for p in photos]}, features=features)

    DatasetDict({"train": one(PHOTOS[:3]), "test": one(PHOTOS[3:])}).save_to_disk(str(tmp_path / "dd"))
    result = CliRunner().invoke(app, ["caption-dir", str(tmp_path / "dd"), "-o", str(tmp_path / "out"), "--dry-run"])
    assert result.exit_code == 0, result.output
    named = "train/data-00000-of-00001.arrow: 3, test/data-00000-of-00001.arrow: 1"
    line = f"Dataset: 2 hf shards, 4 samples by their metadata ({named})"
    assert line in result.stderr
