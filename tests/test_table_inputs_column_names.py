"""Column names as spreadsheets and other tools spell them: `Path`, `Image`, `File Name`,
`FileName`, `ID`.

Before: the default names were matched exactly, so Excel's CSV with the header `Path;Label`
(UTF-8 with BOM, semicolons, CRLF, every field quoted) gave "has no image column (columns:
Path, Label)", and so did `Image`, `File Name` and `FileName`. Now names are matched ignoring
case, spaces, underscores and hyphens; a column spelled exactly as a default name still wins,
and two columns matching one name loosely are refused rather than one picked."""

from __future__ import annotations

import csv
import io
import json

import pytest

from vlmcli.errors import ConfigError
from vlmcli.exports.results import read_results
from vlmcli.inputs.columns import ColumnChoice, pick_image_column, pick_key_column
from vlmcli.inputs.table_shard import table_items
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import caption_dir as caption, install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes

PHOTOS = sample_photos()[:2]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i, photo in enumerate(PHOTOS):
        (folder / f"{i}.jpg").write_bytes(jpeg_bytes(photo))
    return ["images/0.jpg", "images/1.jpg"]


def _excel_csv(header: list[str], rows: list[list[str]]) -> bytes:
    """What Excel's "CSV UTF-8" writes where the decimal mark is a comma."""
    text = io.StringIO()
    writer = csv.writer(text, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    writer.writerows([header, *rows])
    return text.getvalue().encode("utf-8-sig")


def test_excel_csv_with_a_capitalised_path_column(monkeypatch, tmp_path, images):
    install_fake_engine(monkeypatch)
    table = tmp_path / "labels.csv"
    table.write_bytes(_excel_csv(["Path", "Label"], [[images[0], "astronaut"], [images[1], "coffee"]]))
    summary = caption(table, "-o", tmp_path / "out", "--keep-columns", "Label", code=0)
    assert summary["ok"] == 2
    rows = {r["source_key"]: r for r in read_results(tmp_path / "out")}
    assert sorted(rows) == images  # keyed by their paths, as a CSV's rows are
    assert json.loads(rows[images[1]]["extra"]) == {"Label": "coffee"}


@pytest.mark.parametrize("header", ["Image", "IMAGE", "File Name", "FileName", "file-name", "Image Path", "FILEPATH"])
def test_spreadsheet_spellings_of_the_default_names(tmp_path, images, header):
    table = tmp_path / "t.csv"
    table.write_text(f"Caption,{header}\r\na,{images[0]}\r\n", encoding="utf-8")
    (item,) = table_items(table, ColumnChoice(), table="csv")
    assert item.error is None and item.data == (tmp_path / images[0]).read_bytes()
    assert item.key == images[0]


def test_an_exact_name_wins_over_a_loose_one():
    """A table read before is read the same way: `path` spelled so beats `Image`."""
    assert pick_image_column(["Image", "path"], declared=[], requested=None, where="t") == "path"
    assert pick_image_column(["Image", "image"], declared=[], requested=None, where="t") == "image"
    assert pick_key_column(["ID", "id"], requested=None, where="t") == "id"


def test_two_loose_matches_are_refused_not_guessed(monkeypatch, tmp_path, images):
    install_fake_engine(monkeypatch)
    table = tmp_path / "t.csv"
    table.write_text(f"Image,IMAGE\r\n{images[0]},{images[1]}\r\n", encoding="utf-8")
    result = caption(table, "-o", tmp_path / "out", code=2)
    assert "several columns that may be the image column (Image, IMAGE); name one with --image-column" in result.output
    with pytest.raises(ConfigError, match="matches several columns"):
        pick_image_column(["Image", "IMAGE"], declared=[], requested="image", where="t")
    assert pick_image_column(["Image", "IMAGE"], declared=[], requested="IMAGE", where="t") == "IMAGE"


def test_a_given_column_is_found_ignoring_case(tmp_path, images):
    table = tmp_path / "t.csv"
    table.write_text(f"Picture,ID\r\n{images[0]},k-7\r\n", encoding="utf-8")
    (item,) = table_items(table, ColumnChoice(image_column="picture"), table="csv")
    assert item.key == "k-7" and item.error is None  # `ID` is the key column too
    with pytest.raises(ConfigError, match="'photo' is not a column"):
        list(table_items(table, ColumnChoice(image_column="photo"), table="csv"))


def test_an_ambiguous_key_is_no_key():
    """Two columns that both look like the key: rows keyed as without one, never by a guess."""
    assert pick_key_column(["ID", "Id", "path"], requested=None, where="t") is None
    assert pick_key_column(["ID", "Id", "Key"], requested=None, where="t") == "Key"
