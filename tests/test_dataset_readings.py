"""`vlm export` and `vlm report` read a dataset run's items back as the run read them.

A run over a CSV whose paths start from `--image-root`, or a JSON whose picture field and
keys were named with `--image-column`/`--key-column`, or a `.txt` table read with
`--input-format csv`, exported "0 records" with every image "missing or unreadable", and
its report had no previews, unless the same flags were typed again. The run now keeps how
it read each shard in its output folder (`.vlm-datasets.json`); flags given still win."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.formats import InputFormat
from vlmcli.inputs.readings import NOTES_NAME, ShardReading, ShardReadings, load_notes, write_notes
from vlmcli.testing.fakes import caption_dir as caption, install_fake_engine, isolate_env, save_photo

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)


@pytest.fixture
def layout(tmp_path):
    """Pictures in images/, the tables that name them in meta/ (paths relative to images/)."""
    (tmp_path / "images").mkdir()
    (tmp_path / "meta").mkdir()
    for name, photo in (("a.jpg", "astronaut"), ("b.jpg", "coffee")):
        save_photo(tmp_path / "images" / name, photo)
    (tmp_path / "meta" / "list.csv").write_text("file_name,label\na.jpg,x\nb.jpg,y\n")
    records = [{"uid": "r1", "picture": "a.jpg"}, {"uid": "r2", "picture": "b.jpg"}]
    (tmp_path / "meta" / "llava.json").write_text(json.dumps(records))
    (tmp_path / "meta" / "list.txt").write_text("path,label\nb.jpg,y\n")  # a table by --input-format only
    return tmp_path


def export_names(out, dest, *flags):
    result = runner.invoke(app, ["export", str(out), "--to", "imagefolder", "-o", str(dest), *map(str, flags)])
    names = sorted(p.name for p in dest.iterdir() if p.name != "metadata.jsonl") if dest.exists() else []
    return result, names


def previews(out, page, *flags):
    result = runner.invoke(app, ["report", str(out), "-o", str(page), "--force", *map(str, flags)])
    assert result.exit_code == 0, result.output
    text = page.read_text()
    return text.count("data:image/jpeg;base64,"), text.count("no preview")


@pytest.mark.parametrize(
    ("table", "flags", "exported"),
    [
        ("list.csv", (), ["a_jpg.jpg", "b_jpg.jpg"]),
        ("llava.json", ("--image-column", "picture", "--key-column", "uid"), ["r1.jpg", "r2.jpg"]),
        ("list.txt", ("--input-format", "csv"), ["b_jpg.jpg"]),
    ],
)
def test_export_and_report_read_items_as_the_run_did(layout, tmp_path, table, flags, exported):
    out = tmp_path / "out"
    summary = caption(layout / "meta" / table, "-o", out, "--image-root", layout / "images", *flags)
    assert summary["error"] == 0 and summary["ok"] == len(exported)
    note = load_notes(out)[str((layout / "meta" / table).resolve())]
    assert note.image_root == str((layout / "images").resolve())

    result, names = export_names(out, tmp_path / "ex")
    assert result.exit_code == 0, result.output
    assert names == exported and "missing" not in result.output
    assert previews(out, tmp_path / "report.html") == (len(exported), 0)


def test_flags_given_win_over_the_notes(layout, tmp_path):
    out = tmp_path / "out"
    caption(layout / "meta" / "list.csv", "-o", out, "--image-root", layout / "images")
    (layout / "moved").mkdir()
    for name in ("a.jpg", "b.jpg"):
        (layout / "images" / name).rename(layout / "moved" / name)
    result, names = export_names(out, tmp_path / "stale")
    assert result.exit_code == 9 and names == []  # the run's root no longer holds them: named, not hidden
    assert "image missing or unreadable" in result.stderr
    result, names = export_names(out, tmp_path / "ex", "--image-root", layout / "moved")
    assert result.exit_code == 0 and names == ["a_jpg.jpg", "b_jpg.jpg"]


def test_a_run_without_notes_is_read_as_its_content_says(layout, tmp_path):
    """A folder an older version wrote (no notes) still exports with the flags typed again."""
    out = tmp_path / "out"
    caption(layout / "meta" / "list.csv", "-o", out, "--image-root", layout / "images")
    (out / NOTES_NAME).unlink()
    assert export_names(out, tmp_path / "bare")[0].exit_code == 9
    result, names = export_names(out, tmp_path / "ex", "--image-root", layout / "images")
    assert result.exit_code == 0 and names == ["a_jpg.jpg", "b_jpg.jpg"]


def test_notes_merge_over_runs_and_survive_damage(tmp_path):
    csv = ShardReading.of(InputFormat.CSV, ColumnChoice(image_root=tmp_path))
    tar = ShardReading(InputFormat.WEBDATASET, key_column="id")
    write_notes(tmp_path, {"/d/a.csv": csv}, temp=tmp_path / ".notes.tmp")
    write_notes(tmp_path, {"/d/b.tar": tar}, temp=tmp_path / ".notes.tmp")
    assert load_notes(tmp_path) == {"/d/a.csv": csv, "/d/b.tar": tar}
    assert not (tmp_path / ".notes.tmp").exists()
    readings = ShardReadings(load_notes(tmp_path), ColumnChoice(key_column="uid"))
    assert readings.choice("/d/b.tar").key_column == "uid" and readings.choice("/d/a.csv").image_root == tmp_path
    assert readings.choice("/d/other.csv") == ColumnChoice(key_column="uid")

    (tmp_path / NOTES_NAME).write_text('{"version": 1, "shards": {"/x": {"format": "nonsense"}, "/y": 3}}')
    assert load_notes(tmp_path) == {}
    (tmp_path / NOTES_NAME).write_text("not json")
    assert load_notes(tmp_path) == {}
