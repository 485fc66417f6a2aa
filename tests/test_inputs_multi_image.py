"""Rows that hold several pictures: a multi-image Hugging Face dataset (an `images` column of
`List(Image())`, as the_cauldron and LLaVA-OneVision data have) and a JSON record whose
`image` is a list of paths. Before: "no image column (columns: images, texts)", and a list
cell was "no image in this row". Now each picture is an item, keyed `<row key>#image<i>`."""

from __future__ import annotations

import json

import pytest

from vlmcli.exports.results import read_results
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import caption_dir as caption, install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def test_a_list_of_images_column_written_by_datasets(monkeypatch, tmp_path):
    from datasets import Dataset, Features, Image, List, Value

    install_fake_engine(monkeypatch)
    photos = [{"bytes": jpeg_bytes(p), "path": None} for p in sample_photos()[:3]]
    features = Features({"images": List(Image()), "texts": Value("string"), "id": Value("string")})
    data = {"images": [photos[:2], photos[2:], []], "texts": ["two", "one", "none"], "id": ["r0", "r1", "r2"]}
    Dataset.from_dict(data, features=features).to_parquet(str(tmp_path / "cauldron.parquet"))
    summary = caption(tmp_path / "cauldron.parquet", "-o", tmp_path / "out", "--keep-columns", "texts", code=9)
    assert (summary["ok"], summary["error"]) == (3, 1)
    rows = {r["source_key"]: r for r in read_results(tmp_path / "out")}
    assert sorted(rows) == ["r0#image0", "r0#image1", "r1#image0", "r2"]
    assert json.loads(rows["r0#image1"]["extra"]) == {"texts": "two"} and "no image in this row" in rows["r2"]["error"]


def test_a_json_record_with_several_paths(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    for i, photo in enumerate(sample_photos()[:2]):
        (tmp_path / f"{i}.jpg").write_bytes(jpeg_bytes(photo))
    (tmp_path / "pairs.jsonl").write_text(json.dumps({"id": "p", "image": ["0.jpg", "1.jpg"]}) + "\n")
    assert caption(tmp_path / "pairs.jsonl", "-o", tmp_path / "out", code=0)["ok"] == 2
    assert sorted(r["source_key"] for r in read_results(tmp_path / "out")) == ["p#image0", "p#image1"]
