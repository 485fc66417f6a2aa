"""Dataset shards named by a `--files-from` list (a file, or `-` for stdin).

Before, `ls wds/shard-*.tar > shards.txt; vlm caption-dir --files-from shards.txt -o out`
(with or without `--input-format webdataset`), or the Hub's parquets piped to
`--files-from -`, made one error row per shard ("shard-00000.tar is not an image vlmcli can
read") and exit 9. Now each line is read as an INPUT naming that path would be."""

from __future__ import annotations

import io
import json
import os

import pytest
from typer.testing import CliRunner

from vlmcli.captions.discover import read_file_list
from vlmcli.cli import app
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
    import webdataset

    folder.mkdir(parents=True)
    with webdataset.ShardWriter(str(folder / "shard-%05d.tar"), maxcount=2, verbose=0) as sink:
        for i, photo in enumerate(PHOTOS):
            sink.write({"__key__": f"k{i}", "jpg": jpeg_bytes(photo)})
    return sorted(folder.glob("shard-*.tar"))


def _parquets(folder):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    paths = []
    for i in range(2):
        photos = PHOTOS[2 * i : 2 * i + 2]
        rows = [{"key": f"p{i}{j}", "image": {"bytes": jpeg_bytes(p), "path": None}} for j, p in enumerate(photos)]
        pq.write_table(pa.Table.from_pylist(rows), folder / f"train-{i:05d}-of-00002.parquet")
        paths.append(folder / f"train-{i:05d}-of-00002.parquet")
    return paths


def _piped(*args, text):
    result = CliRunner().invoke(app, ["caption-dir", "--files-from", "-", *map(str, args), "-q", "--json"], input=text)
    return result


def test_a_list_of_tar_shards_reads_the_shards(tmp_path):
    shards = _shards(tmp_path / "wds")
    listing = tmp_path / "shards.txt"
    listing.write_text("".join(f"{s}\n" for s in shards))
    refs = dataset_shards([], listed=read_file_list(str(listing)))
    assert [r.path for r in refs] == shards and {r.format for r in refs} == {InputFormat.WEBDATASET}
    summary = caption("--files-from", listing, "-o", tmp_path / "out")
    assert (summary["ok"], summary["error"], summary["shards"]) == (4, 0, 2)
    forced = caption("--files-from", listing, "--input-format", "webdataset", "-o", tmp_path / "out2")
    assert (forced["ok"], forced["shards"]) == (4, 2)


def test_parquets_piped_to_files_from_stdin_are_read_once_as_shards(tmp_path):
    paths = _parquets(tmp_path / "data")
    result = _piped("-o", tmp_path / "out", text="".join(f"{p}\n" for p in paths))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["ok"], summary["shards"]) == (4, 2)
    assert {r["source"] for r in read_results(tmp_path / "out")} == {str(p.resolve()) for p in paths}


def test_a_piped_list_of_pictures_is_still_captioned_as_files(tmp_path):
    """The list is read from stdin once, and both the shard check and the file walk get it."""
    for i, photo in enumerate(PHOTOS[:2]):
        photo.save(tmp_path / f"{i}.jpg")
    result = _piped("-o", tmp_path / "out", text=f"{tmp_path / '0.jpg'}\n{tmp_path / '1.jpg'}\n")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["ok"], summary.get("shards", 0)) == (2, 0)
    stream = io.BytesIO(b"a.jpg\nb.jpg\n")
    assert read_file_list("-", stdin=stream) == read_file_list("-", stdin=stream) == ["a.jpg", "b.jpg"]


def test_a_list_of_pictures_and_shards_is_refused_as_inputs_are(tmp_path):
    (shard, _) = _shards(tmp_path / "wds")
    PHOTOS[0].save(tmp_path / "a.jpg")
    listing = tmp_path / "mixed.txt"
    listing.write_text(f"{tmp_path / 'a.jpg'}\n{shard}\n")
    refused = caption("--files-from", listing, "-o", tmp_path / "out", code=2)
    assert "Mixed inputs" in refused.stderr and "(in --files-from) is a plain file" in refused.stderr
    beside = caption(tmp_path / "a.jpg", "--files-from", tmp_path / "only.txt", "-o", tmp_path / "out", code=3)
    assert "No such file list" in beside.stderr
    (tmp_path / "only.txt").write_text(f"{shard}\n")
    mixed = caption(tmp_path / "a.jpg", "--files-from", tmp_path / "only.txt", "-o", tmp_path / "out", code=2)
    assert "Mixed inputs" in mixed.stderr


def test_a_missing_line_among_shards_is_said_and_relative_lines_start_here(tmp_path, monkeypatch):
    shards = _shards(tmp_path / "wds")
    monkeypatch.chdir(tmp_path)
    listing = tmp_path / "shards.txt"
    listing.write_text(f"{os.path.relpath(shards[0])}\nwds/gone.tar\n")
    missing = caption("--files-from", listing, "-o", tmp_path / "out", code=3)
    assert "No such file: wds/gone.tar (in --files-from)" in missing.stderr
    listing.write_text(f"{os.path.relpath(shards[0])}\r\n")  # written on Windows
    assert caption("--files-from", listing, "-o", tmp_path / "out")["shards"] == 1


def test_a_listed_dataset_dict_json_reads_its_splits(tmp_path):
    from datasets import Dataset, DatasetDict, Features, Image

    features = Features({"image": Image()})
    one = Dataset.from_dict({"image": [{"bytes": jpeg_bytes(PHOTOS[0]), "path": None}]}, features=features)
    DatasetDict({"train": one, "test": one}).save_to_disk(str(tmp_path / "dd"))
    (tmp_path / "list.txt").write_text(f"{tmp_path / 'dd' / 'dataset_dict.json'}\n")
    summary = caption("--files-from", tmp_path / "list.txt", "-o", tmp_path / "out")
    assert (summary["shards"], summary["files"], summary["ok"]) == (2, 2, 2)
