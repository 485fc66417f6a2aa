"""Rows of a Parquet or `save_to_disk` table without a key column are keyed by the paths
their image cells name, as a CSV's and a JSON file's rows are.

Before: a Parquet whose `image` column holds `images/x.jpg`, or a `datasets` `Image()`
column whose `{bytes, path}` structs carry the files' paths, was keyed by row number while a
CSV was keyed by path: re-sorting the rows and running again into the same output gave
"6 copied" and 12 rows (6 stale, each under another row's key), and an export named the
pictures 00000000.jpg, their file names lost. A cell that holds the picture itself (bytes,
a data: URI, base64) names nothing: its row is keyed by number, as before."""

from __future__ import annotations

import base64

import pytest

from vlmcli.exports.results import read_results
from vlmcli.inputs.columns import path_key
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import caption_dir as caption, install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes

PHOTOS = sample_photos()[:3]
NAMES = ["astronaut.jpg", "coffee.jpg", "chelsea.jpg"]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for name, photo in zip(NAMES, PHOTOS):
        (folder / name).write_bytes(jpeg_bytes(photo))
    return folder


def _rerun_resorted(table_path, write, out) -> None:
    """Caption, write the table again with its rows reversed, caption again into `out`."""
    first = caption(table_path, "-o", out, code=0)
    assert first["ok"] == 3
    keys = sorted(r["source_key"] for r in read_results(out))
    write(reverse=True)
    again = caption(table_path, "-o", out, code=0)
    assert (again["ok"], again["skipped"], again["copied"]) == (0, 3, 0)
    assert sorted(r["source_key"] for r in read_results(out)) == keys  # no stale rows beside them


def test_a_parquet_of_relative_paths(monkeypatch, tmp_path, images):
    import pyarrow as pa
    import pyarrow.parquet as pq

    install_fake_engine(monkeypatch)
    table = tmp_path / "rel.parquet"

    def write(reverse: bool = False) -> None:
        names = NAMES[::-1] if reverse else NAMES
        pq.write_table(pa.table({"image": [f"images/{n}" for n in names], "label": names}), table)

    write()
    _rerun_resorted(table, write, tmp_path / "out")
    assert sorted(r["source_key"] for r in read_results(tmp_path / "out")) == sorted(f"images/{n}" for n in NAMES)


@pytest.mark.parametrize("saved", ["to_parquet", "save_to_disk"])
def test_a_datasets_image_feature_that_carries_paths(monkeypatch, tmp_path, images, saved):
    from datasets import Dataset, Features, Image, Value

    install_fake_engine(monkeypatch)
    target = tmp_path / ("photos.parquet" if saved == "to_parquet" else "photos")

    def write(reverse: bool = False) -> None:
        names = NAMES[::-1] if reverse else NAMES
        cells = [{"bytes": (images / n).read_bytes(), "path": n} for n in names]
        data = Dataset.from_dict({"image": cells, "label": names}, features=Features({"image": Image(), "label": Value("string")}))
        if saved == "to_parquet":
            data.to_parquet(str(target))
        else:
            data.save_to_disk(str(tmp_path / "next"))  # not over the folder a reader may still map
            if target.exists():
                import shutil

                shutil.rmtree(target)
            (tmp_path / "next").rename(target)

    write()
    _rerun_resorted(target, write, tmp_path / "out")
    assert sorted(r["source_key"] for r in read_results(tmp_path / "out")) == sorted(NAMES)


def test_pictures_held_in_the_table_are_keyed_by_row(monkeypatch, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    install_fake_engine(monkeypatch)
    photos = [jpeg_bytes(p) for p in PHOTOS]
    text = [base64.b64encode(photos[0]).decode(), "data:image/jpeg;base64," + base64.b64encode(photos[1]).decode()]
    pq.write_table(pa.table({"image": text}), tmp_path / "inline.parquet")
    pq.write_table(pa.table({"image": photos}), tmp_path / "bytes.parquet")
    for name in ("inline", "bytes"):
        assert caption(tmp_path / f"{name}.parquet", "-o", tmp_path / name, code=0)["ok"] == len(text if name == "inline" else photos)
    assert sorted(r["source_key"] for r in read_results(tmp_path / "inline")) == ["00000000", "00000001"]
    assert sorted(r["source_key"] for r in read_results(tmp_path / "bytes")) == ["00000000", "00000001", "00000002"]


def test_path_key():
    assert path_key("images/a.jpg") == "images/a.jpg"
    assert path_key({"bytes": b"\xff\xd8\xff", "path": "a.jpg"}) == "a.jpg"
    assert path_key({"bytes": b"\xff\xd8\xff", "path": None}) is None
    assert path_key("https://example.com/a.jpg") == "https://example.com/a.jpg"
    assert path_key("data:image/png;base64,iVBORw0KGgo=") is None
    assert path_key(b"\xff\xd8\xff") is None and path_key(None) is None
