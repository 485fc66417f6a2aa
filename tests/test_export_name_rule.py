"""One naming rule for every exported record, names unique ignoring case, and a warning when one
prompt's column mixes two configurations.

The rule (README, "Out to trainers"): a file keeps its path relative to the run's common folder;
a dataset item is named by its key (`source_key`: a zip member's path, a tar's WebDataset key,
a table's key column, a PDF's `page-0003`), `/`, `\\`, `.` and `:` made `_`, a document's pages
in a folder, plus the extension its bytes say. Before: `A.jpg` and `a.jpg` (or a shard folder
`A/` and `a/`) were two names, one file on macOS and Windows; a camera raw `x.nef` exported as
its preview `x.nef.jpg` over a real `x.nef.jpg`; a PDF's page folder `scan/` and an
extension-less file `scan` could not both be made; and two configurations of one prompt text
(rows told apart only by config_hash) were exported as one column without a word."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.exports.images import PREVIEW, base_names
from vlmcli.exports.names import distinct, folded, webdataset_keys
from vlmcli.exports.records import Record, join_rows
from vlmcli.exports.results import read_results
from vlmcli.testing.fakes import caption_dir, install_fake_engine, isolate_env, real_photo, save_photo

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)


def jpeg(photo: str) -> bytes:
    buffer = io.BytesIO()
    real_photo(photo).convert("RGB").resize((64, 48)).save(buffer, format="JPEG")
    return buffer.getvalue()


def item(key: str, source: str = "/d/s.zip") -> Record:
    return Record(path=f"{source}::{key}", key=None, width=1, height=1, captions={}, source=source, source_key=key)


def file(path: str) -> Record:
    return Record(path=path, key=None, width=1, height=1, captions={})


def unique_ignoring_case(names) -> bool:
    names = list(names)
    return len({folded(n) for n in names}) == len(names)


def exported(run: Path, fmt: str, dest: Path) -> list[str]:
    """The names an export wrote (imagefolder's metadata.jsonl, a tar's image members)."""
    result = runner.invoke(app, ["export", str(run), "--to", fmt, "-o", str(dest)])
    assert result.exit_code == 0, result.output
    if fmt == "imagefolder":
        return [json.loads(line)["file_name"] for line in (dest / "metadata.jsonl").read_text().splitlines()]
    with tarfile.open(dest / "00000.tar") as tar:
        return [n for n in tar.getnames() if not n.endswith((".json", ".txt"))]


def test_one_rule_for_every_kind_of_source_and_the_same_names_every_time(tmp_path):
    folder = tmp_path / "folder"
    (folder / "p").mkdir(parents=True)
    save_photo(folder / "p" / "a.jpg")
    save_photo(folder / "b.png", "coffee")
    archive = tmp_path / "z.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("p/a.jpg", jpeg("astronaut"))
        zipped.writestr("b.png", jpeg("coffee"))  # JPEG bytes: the extension its bytes say
    shards = tmp_path / "tars"
    shards.mkdir()
    with tarfile.open(shards / "00000.tar", "w") as tar:
        for name, data in (("imgs/a.jpg", jpeg("astronaut")), ("imgs/a.txt", b"alt"), ("b.png", jpeg("coffee"))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    expected = {
        folder: ["b.png", "p/a.jpg"],  # a file: its path below the common folder, as it is
        archive: ["b_png.jpg", "p_a_jpg.jpg"],  # a zip member's key is its path
        shards / "00000.tar": ["b.jpg", "imgs_a.jpg"],  # a tar's key is its WebDataset key (no extension)
    }
    for source, names in expected.items():
        run = tmp_path / f"run-{source.name}"
        caption_dir(source, "-o", run)
        for fmt in ("imagefolder", "webdataset"):
            first = exported(run, fmt, tmp_path / f"{source.name}-{fmt}")
            again = exported(run, fmt, tmp_path / f"{source.name}-{fmt}-again")
            assert sorted(first) == sorted(again) == names, (source, fmt)


def test_distinct_names_are_unique_ignoring_case_and_the_first_keeps_its_own():
    assert distinct({"p1": "A.jpg", "p2": "a.jpg", "p3": "a_1.JPG"}) == {"p1": "A.jpg", "p2": "a_2.jpg", "p3": "a_1.JPG"}
    assert distinct({"p1": "x.png"}, frozenset({"X.PNG"})) == {"p1": "x_1.png"}
    keys = webdataset_keys(["Cat.jpg", "cat.png"])
    assert unique_ignoring_case(keys.values()) and keys["Cat.jpg"] == "Cat"
    names = base_names([file("/d/A.jpg"), file("/d/a.jpg"), file("/d/sub/B.png"), file("/d/SUB/b.png")])
    assert unique_ignoring_case(names.values()) and names["/d/A.jpg"] == "A.jpg"
    items = base_names([item("K.jpg"), item("k.jpg")])
    assert unique_ignoring_case(items.values())
    two = base_names([item("k", "/d/A.tar"), item("k", "/d/a.tar")])  # shard folders A/ and a/: one on macOS
    assert unique_ignoring_case({n.split("/")[0] for n in two.values()})


def test_an_item_never_takes_a_file_name_ignoring_case():
    names = base_names([file("/d/Photo.jpg"), item("photo")])
    assert names["/d/Photo.jpg"] == "Photo.jpg" and folded(names["/d/s.zip::photo"]) != "photo"


def test_a_raw_files_preview_name_is_its_own():
    records = [file("/d/x.nef"), file("/d/x.nef.jpg"), file("/d/y.nef")]
    plain = base_names(records)  # txt and jsonl write no preview
    assert plain["/d/x.nef.jpg"] == "x.nef.jpg" and "/d/x.nef" + PREVIEW not in plain
    names = base_names(records, previews=True)
    assert names["/d/x.nef" + PREVIEW] == "x.nef.jpg" and names["/d/y.nef" + PREVIEW] == "y.nef.jpg"
    assert names["/d/x.nef.jpg"] == "x.nef_1.jpg" and unique_ignoring_case(names.values())


def test_a_documents_page_folder_is_never_a_files_name():
    records = [file("/d/scan"), file("/d/SCAN.d/x.jpg"), item("page-0001", "/d/scan.pdf"), item("page-0001", "/d/other.pdf")]
    names = base_names(records)
    assert names["/d/scan.pdf::page-0001"] == "scan/page-0001"
    assert names["/d/scan"] == "scan_1"  # the folder scan/ holds the pages; no file may be called scan
    items = base_names([file("/d/a.jpg/x.png"), file("/d/y.png"), item("a")])  # a folder a.jpg/, an item a + .jpg
    assert items["/d/s.zip::a"] != "a"


def test_a_raw_beside_a_real_jpeg_of_its_preview_name_exports_both(tmp_path):
    datasets = pytest.importorskip("datasets")
    from vlmcli.testing.media.raw_files import tiff_raw

    folder = tmp_path / "card"
    folder.mkdir()
    (folder / "DSC_0001.NEF").write_bytes(tiff_raw(real_photo("astronaut")))
    save_photo(folder / "DSC_0001.NEF.jpg", "coffee", format="JPEG")  # an earlier conversion, kept beside
    save_photo(folder / "Cat.jpg", "chelsea")
    save_photo(folder / "cat.JPG", "camera", format="JPEG")
    run = tmp_path / "run"
    caption_dir(folder, "-o", run, "--input-format", "files")
    for fmt in ("imagefolder", "webdataset"):
        names = exported(run, fmt, tmp_path / fmt)
        assert len(names) == 4 and unique_ignoring_case(names), (fmt, names)
    wrote = {n: (tmp_path / "imagefolder" / n).read_bytes() for n in exported(run, "imagefolder", tmp_path / "again")}
    assert wrote["DSC_0001.NEF_1.jpg"] == (folder / "DSC_0001.NEF.jpg").read_bytes()
    assert wrote["DSC_0001.NEF.jpg"] != wrote["DSC_0001.NEF_1.jpg"] and wrote["DSC_0001.NEF.jpg"][:3] == b"\xff\xd8\xff"
    assert len(datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "imagefolder"), split="train")) == 4


def two_configurations(tmp_path: Path) -> Path:
    """A jsonl run of one prompt whose rows appear again under another config_hash, as two
    prompt-file lines of one text do (one with an unstated constraint)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    save_photo(folder / "a.jpg")
    save_photo(folder / "b.jpg", "coffee")
    run = tmp_path / "run"
    caption_dir(folder, "-o", run, "--format", "jsonl", "-p", "Describe.")
    shard = sorted(run.glob("part-*.jsonl"))[0]
    rows = [json.loads(line) for line in shard.read_text().splitlines()]
    for row in rows:
        row |= {"config_hash": "0123456789abcdef", "caption": '{"n": 1}', "answer_json": '{"n": 1}'}
    (run / "part-00001.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


def test_two_configurations_of_one_prompt_are_warned_not_merged_silently(tmp_path):
    run = two_configurations(tmp_path)
    joined = join_rows(read_results(run))
    assert joined.configurations == {"Describe.": 2} and list(joined.columns) == ["caption"]
    result = runner.invoke(app, ["export", str(run), "--to", "jsonl", "-o", str(tmp_path / "all.jsonl"), "--json"])
    assert result.exit_code == 0, result.output
    assert "warning: two configurations of the prompt 'Describe.'" in result.stderr
    assert "exporting the newer caption of each image" in result.stderr
    assert json.loads(result.stdout)["prompt_configurations"] == {"Describe.": 2}
    single = tmp_path / "single"
    caption_dir(tmp_path / "photos", "-o", single, "-p", "Describe.")
    assert join_rows(read_results(single)).configurations == {}
    quiet = runner.invoke(app, ["export", str(single), "--to", "jsonl", "-o", str(tmp_path / "one.jsonl")])
    assert quiet.exit_code == 0 and "warning" not in quiet.stderr
