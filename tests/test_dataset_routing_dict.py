"""A `DatasetDict.save_to_disk` folder (`dataset_dict.json` beside a folder per split).

Before, `vlm caption-dir dd/` said "No images among the 7 file(s) found; dd/dataset_dict.json
is a dataset file: pass it as an INPUT itself", and that file as INPUT "has no image column
(columns: splits)"; `--input-format hf dd/` "holds no hf shards". Only the split folders
named one by one were read, and the dry run then named both shards
`data-00000-of-00001.arrow`."""

from __future__ import annotations

import json

import pytest

from vlmcli.exports.results import read_results
from vlmcli.inputs.expand import dataset_shards
from vlmcli.inputs.formats import InputFormat, detect_format
from vlmcli.inputs.shard_labels import shard_labels
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import caption_dir as caption, install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes

PHOTOS = sample_photos()[:5]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def _dataset_dict(folder, splits):
    """`DatasetDict({...}).save_to_disk(folder)`, `datasets` writing it; `splits`: name -> photos."""
    from datasets import Dataset, DatasetDict, Features, Image, Value

    features = Features({"image": Image(), "label": Value("string")})

    def one(photos, split):
        rows = {
            "image": [{"bytes": jpeg_bytes(p), "path": None} for p in photos],
            "label": [f"{split} {i}" for i in range(len(photos))],
        }
        return Dataset.from_dict(rows, features=features)

    DatasetDict({name: one(photos, name) for name, photos in splits.items()}).save_to_disk(str(folder))
    return folder


def test_a_dataset_dict_folder_reads_every_split_in_its_order(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    folder = _dataset_dict(tmp_path / "dd", {"train": PHOTOS[:3], "test": PHOTOS[3:5]})
    assert json.loads((folder / "dataset_dict.json").read_text())["splits"] == ["train", "test"]
    expected = [str((folder / split / "data-00000-of-00001.arrow").resolve()) for split in ("train", "test")]
    assert detect_format(folder) is InputFormat.HF
    for given, forced in [(folder, InputFormat.AUTO), (folder / "dataset_dict.json", InputFormat.AUTO), (folder, InputFormat.HF)]:
        refs = dataset_shards([str(given)], forced=forced)
        assert [r.source for r in refs] == expected and {r.format for r in refs} == {InputFormat.HF}
    summary = caption(folder, "-o", tmp_path / "out")
    assert (summary["ok"], summary["error"], summary["shards"]) == (5, 0, 2)
    rows = read_results(tmp_path / "out")
    assert sorted(r["source"] for r in rows) == sorted([expected[0]] * 3 + [expected[1]] * 2)
    again = caption(folder / "dataset_dict.json", "-o", tmp_path / "out")  # the file means its folder: same rows
    assert (again["ok"], again["skipped"]) == (0, 5)
    split = caption(folder / "train", folder / "test", "-o", tmp_path / "out")  # the splits one by one: the same too
    assert (split["ok"], split["skipped"]) == (0, 5)


def test_the_splits_come_in_dataset_dict_json_order_not_by_name(monkeypatch, tmp_path):
    folder = _dataset_dict(tmp_path / "dd", {"validation": PHOTOS[:1], "train": PHOTOS[1:3]})
    refs = dataset_shards([str(folder)])
    assert [r.path.parent.name for r in refs] == ["validation", "train"]
    install_fake_engine(monkeypatch)
    dry = caption(folder, "-o", tmp_path / "out", "--dry-run")
    assert [s["source"] for s in dry["dataset"]["shards"]] == [r.source for r in refs]
    assert [s["samples"] for s in dry["dataset"]["shards"]] == [1, 2]


def test_a_save_to_disk_folders_state_json_means_its_folder(tmp_path):
    from datasets import Dataset, Features, Image

    folder = tmp_path / "one"
    features = Features({"image": Image()})
    Dataset.from_dict({"image": [{"bytes": jpeg_bytes(PHOTOS[0]), "path": None}]}, features=features).save_to_disk(str(folder))
    (ref,) = dataset_shards([str(folder / "state.json")])
    assert ref.format is InputFormat.HF and ref.path.name.endswith(".arrow")


def test_shard_labels_tell_same_named_shards_apart():
    dd = ["/d/dd/train/data-00000-of-00001.arrow", "/d/dd/test/data-00000-of-00001.arrow"]
    assert shard_labels(dd) == ["train/data-00000-of-00001.arrow", "test/data-00000-of-00001.arrow"]
    assert shard_labels(["/w/00000.tar", "/w/00001.tar"]) == ["00000.tar", "00001.tar"]
    assert shard_labels(["/a/x/0.tar", "/b/x/0.tar", "/b/1.tar"]) == ["a/x/0.tar", "b/x/0.tar", "1.tar"]
