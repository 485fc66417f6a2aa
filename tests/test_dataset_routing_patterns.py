"""Dataset shards named by a pattern the shell did not expand: a quoted INPUT or a `--glob`.

Before, `vlm caption-dir 'wds/shard-*.tar'`, `--glob 'wds/shard-*.tar'` and the Hub's
`'data/train-*.parquet'` took the shards for picture files ("No images among the 3 file(s)
found; ...shard-00000.tar is a dataset file: pass it as an INPUT itself"), and with
`--input-format webdataset`: "No such shard: wds/shard-*.tar". Now a pattern is read as a
folder holding its matches is; whatever the spelling, a shard's rows are the same."""

from __future__ import annotations

import os

import pytest

from vlmcli.exports.results import read_results
from vlmcli.inputs.expand import dataset_shards
from vlmcli.inputs.formats import InputFormat
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import caption_dir as caption, install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes

PHOTOS = sample_photos()[:4]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)


def _shards(folder):
    """Two WebDataset shards written by `webdataset.ShardWriter` (2 keys each), a note beside."""
    import webdataset

    folder.mkdir(parents=True)
    with webdataset.ShardWriter(str(folder / "shard-%05d.tar"), maxcount=2, verbose=0) as sink:
        for i, photo in enumerate(PHOTOS):
            sink.write({"__key__": f"k{i}", "jpg": jpeg_bytes(photo), "txt": f"alt {i}"})
    (folder / "README.txt").write_text("made by ShardWriter\n")
    return sorted(folder.glob("shard-*.tar"))


def _hub(folder):
    """The Hub's `data/train-0000N-of-00002.parquet` layout, written by `datasets`."""
    from datasets import Dataset, Features, Image, Value

    features = Features({"image": Image(), "text": Value("string")})
    rows = {"image": [{"bytes": jpeg_bytes(p), "path": None} for p in PHOTOS], "text": [f"t{i}" for i in range(4)]}
    data = Dataset.from_dict(rows, features=features)
    (folder / "data").mkdir(parents=True)
    for i in range(2):
        data.shard(2, i, contiguous=True).to_parquet(str(folder / "data" / f"train-{i:05d}-of-00002.parquet"))
    (folder / "README.md").write_text("---\nconfigs:\n- config_name: default\n---\n")
    return folder


def test_a_quoted_pattern_and_a_glob_of_tar_shards_read_the_shards(tmp_path):
    shards = _shards(tmp_path / "wds")
    pattern = str(tmp_path / "wds" / "shard-*.tar")
    refs = dataset_shards([pattern])
    assert [r.path for r in refs] == shards and {r.format for r in refs} == {InputFormat.WEBDATASET}
    assert [r.path for r in dataset_shards([], globs=[pattern])] == shards
    assert [r.path for r in dataset_shards([str(tmp_path / "wds" / "*")])] == shards  # the note is left out, as in a folder
    summary = caption(pattern, "-o", tmp_path / "out")
    assert (summary["ok"], summary["error"], summary["shards"]) == (4, 0, 2)
    globbed = caption("--glob", pattern, "-o", tmp_path / "out2")
    assert (globbed["ok"], globbed["shards"]) == (4, 2)
    forced = caption(pattern, "--input-format", "webdataset", "-o", tmp_path / "out3")
    assert (forced["ok"], forced["shards"]) == (4, 2)


def test_the_hubs_data_train_pattern_reads_its_parquets(tmp_path):
    hub = _hub(tmp_path / "hub")
    summary = caption(str(hub / "data" / "train-*"), "-o", tmp_path / "out")
    assert (summary["ok"], summary["shards"]) == (4, 2)
    rows = read_results(tmp_path / "out")
    assert {os.path.basename(r["source"]) for r in rows} == {"train-00000-of-00002.parquet", "train-00001-of-00002.parquet"}


def test_a_pattern_over_shards_and_pictures_is_read_as_such_a_folder_is(tmp_path):
    mixed = tmp_path / "mixed"
    _shards(mixed)
    PHOTOS[0].save(mixed / "a.jpg")
    refused = caption(str(mixed / "*"), "-o", tmp_path / "out", code=2)  # as `caption-dir mixed/` is
    assert "matches both tar shards (shard-00000.tar) and pictures or videos (a.jpg)" in refused.stderr
    assert "--input-format webdataset or --input-format files" in refused.stderr
    assert "holds both tar shards" in caption(mixed, "-o", tmp_path / "out", code=2).stderr
    tables = tmp_path / "tables"
    _hub(tables)
    PHOTOS[1].save(tables / "data" / "b.jpg")  # a Parquet beside pictures is their metadata, as in a folder
    summary = caption(str(tables / "data" / "*"), "-o", tmp_path / "out2")
    assert (summary["ok"], summary.get("shards", 0)) == (1, 0)


def test_a_rerun_spelling_the_shards_another_way_adds_no_row(tmp_path):
    shards = _shards(tmp_path / "wds")
    out = tmp_path / "out"
    first = caption(str(tmp_path / "wds" / "shard-*.tar"), "-o", out)
    assert first["ok"] == 4
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{os.path.relpath(s)}\n" for s in shards))
    spellings = [
        [str(tmp_path / "wds" / "shard-{00000..00001}.tar")],
        [str(s) for s in shards],
        ["--glob", str(tmp_path / "wds" / "shard-0000?.tar")],
        ["--files-from", str(listing)],
        [str(tmp_path / "wds" / "." / "shard-*.tar")],
    ]
    for spelled in spellings:
        again = caption(*spelled, "-o", out)
        assert (again["ok"], again["skipped"]) == (0, 4), spelled
    rows = read_results(out)
    assert len(rows) == 4 and {r["source"] for r in rows} == {str(s.resolve()) for s in shards}
    assert all(r["path"] == f"{r['source']}::{r['source_key']}" for r in rows)


def test_a_glob_never_matches_the_runs_own_output_shards(tmp_path):
    hub = _hub(tmp_path / "hub")
    out = hub / "data" / "captions"
    pattern = str(hub / "data" / "**" / "*.parquet")
    first = caption("--glob", pattern, "-o", out)
    assert (first["ok"], first["shards"]) == (4, 2)
    again = caption("--glob", pattern, "-o", out)  # out/part-*.parquet are captions, not input
    assert (again["ok"], again["skipped"], again["shards"]) == (0, 4, 2)
    other = caption("--glob", pattern, "-o", tmp_path / "elsewhere")  # another run's output folder: its lock says so
    assert (other["ok"], other["shards"]) == (4, 2)
