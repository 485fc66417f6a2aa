"""caption-dir over PDFs: each page one row, as a dataset item (`scans.pdf::page-0003`).

A PDF argument, or a folder holding only PDFs, is read page by page (rendered as `vlm ask`
renders them); in a folder of pictures the PDFs are skipped and counted (before: "ignored
non-image files", nothing said)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.inputs.formats import InputFormat, detect_format
from vlmcli.inputs.pdf_shard import page_key
from vlmcli.testing.fakes import install_fake_engine, isolate_env
from vlmcli.testing.media.documents import locked_pdf, text_pdf

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for shard in sorted(out.glob("*.jsonl")) for line in shard.read_text().splitlines()]


def caption(*args: str) -> object:
    return runner.invoke(app, ["caption-dir", *args, "--format", "jsonl", "--json", "-q"])


def test_page_keys_sort_in_page_order():
    assert page_key(3, 12) == "page-0003" and page_key(12, 12345) == "page-00012"
    assert sorted(page_key(n, 20) for n in (10, 2, 1)) == [page_key(n, 20) for n in (1, 2, 10)]


def test_each_page_of_a_pdf_is_a_row_and_a_rerun_redoes_nothing(tmp_path):
    pdf = tmp_path / "minutes.pdf"
    pdf.write_bytes(text_pdf([["Minutes"], ["Agenda"], ["Decisions"]]))
    assert detect_format(pdf) is InputFormat.PDF
    out = tmp_path / "out"
    result = caption(str(pdf), "-o", str(out))
    assert result.exit_code == 0, result.output
    got = sorted(rows(out), key=lambda r: r["source_key"])
    assert [r["source_key"] for r in got] == ["page-0001", "page-0002", "page-0003"]
    assert all(r["status"] == "ok" and r["path"] == f"{pdf}::{r['source_key']}" and r["source"] == str(pdf) for r in got)
    assert (got[0]["width"], got[0]["height"]) == (1275, 1651)  # US Letter at 150 dpi
    again = caption(str(pdf), "-o", str(out))
    assert again.exit_code == 0 and json.loads(again.stdout)["skipped"] == 3 and len(rows(out)) == 3


def test_a_folder_of_pdfs_with_a_locked_one(tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "a.pdf").write_bytes(text_pdf([["One"], ["Two"]]))
    (folder / "b.pdf").write_bytes(locked_pdf())
    assert detect_format(folder) is InputFormat.PDF
    out = tmp_path / "out"
    result = caption(str(folder), "-o", str(out))
    assert result.exit_code == 9, result.output
    summary = json.loads(result.stdout)
    assert summary["ok"] == 2 and any("b.pdf is an encrypted PDF" in e for e in summary["shard_errors"])


def test_pdfs_among_pictures_are_skipped_and_counted(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.new("RGB", (32, 24), "red").save(folder / "photo.jpg")
    (folder / "manual.pdf").write_bytes(text_pdf([["Manual"]]))
    assert detect_format(folder) is InputFormat.FILES
    result = caption(str(folder), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["ok"] == 1 and summary["documents_skipped"] == 1 and summary["ignored"] == 0
    text = runner.invoke(app, ["caption-dir", str(folder), "-o", str(tmp_path / "out2")])
    assert "skipped 1 PDF (--input-format pdf captions their pages)" in text.stderr
    pages = caption(str(folder), "-o", str(tmp_path / "out3"), "--input-format", "pdf")
    assert pages.exit_code == 0 and [r["source_key"] for r in rows(tmp_path / "out3")] == ["page-0001"]


def test_a_page_row_can_be_asked_about_by_its_address(tmp_path):
    pdf = tmp_path / "minutes.pdf"
    pdf.write_bytes(text_pdf([["Minutes"], ["Agenda"]]))
    result = runner.invoke(app, ["ask", f"{pdf}::page-0002", "What is on it?", "--json"])
    assert result.exit_code == 0, result.output
    (image,) = json.loads(result.stdout)["images"]
    assert (image["width"], image["height"]) == (1275, 1651)
    from vlmcli.inputs.item_address import read_item
    from vlmcli.inputs.pdf_shard import pdf_items
    from vlmcli.inputs.columns import ColumnChoice

    rows_bytes = {item.key: item.data for item in pdf_items(pdf, ColumnChoice())}
    assert read_item(f"{pdf}::page-2").data == read_item(f"{pdf}::2").data == rows_bytes["page-0002"]  # the row's bytes
    missing = runner.invoke(app, ["ask", f"{pdf}::page-9", "What is on it?"])
    assert missing.exit_code == 3 and "its pages are page-0001 to page-0002" in missing.stderr


def test_the_dry_run_counts_pages(tmp_path):
    pdf = tmp_path / "minutes.pdf"
    pdf.write_bytes(text_pdf([["Minutes"], ["Agenda"], ["More"]]))
    result = runner.invoke(app, ["caption-dir", str(pdf), "-o", str(tmp_path / "out"), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dataset"]["shards"][0]["samples"] == 3


def test_exports_keep_same_named_pdfs_in_other_folders_apart(tmp_path):
    """Before: a/scan.pdf, b/scan.pdf and scan.pdf all exported to scan/page-0001.png (3 records,
    one file; captions on the wrong pictures), webdataset members repeated."""
    folder = tmp_path / "docs"
    for sub, pages in (("a", 3), ("b", 2), ("", 1)):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        (folder / sub / "scan.pdf").write_bytes(text_pdf([[f"{sub} page {n}"] for n in range(pages)]))
    out = tmp_path / "out"
    assert caption(str(folder), "-o", str(out)).exit_code == 0
    exported = tmp_path / "exported"
    result = runner.invoke(app, ["export", str(out), "--to", "imagefolder", "-o", str(exported)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (exported / "metadata.jsonl").read_text().splitlines()]
    names = sorted(r["file_name"] for r in records)
    assert names == ["a/scan/page-0001.png", "a/scan/page-0002.png", "a/scan/page-0003.png",
                     "b/scan/page-0001.png", "b/scan/page-0002.png", "scan/page-0001.png"]
    assert all((exported / name).is_file() for name in names)
    import tarfile

    shards = tmp_path / "shards"
    assert runner.invoke(app, ["export", str(out), "--to", "webdataset", "-o", str(shards)]).exit_code == 0
    members = [m.name for tar in sorted(shards.glob("*.tar")) for m in tarfile.open(tar).getmembers()]
    assert len(members) == len(set(members)) == 6 * 3  # image, txt, json per record


def test_txt_format_is_refused_for_pages_and_other_dataset_items(tmp_path):
    """Before: every page of minutes.pdf went to one minutes.txt (3 ok rows, one file)."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "minutes.pdf").write_bytes(text_pdf([["One"], ["Two"], ["Three"]]))
    for extra in ([], ["--dry-run"]):
        result = runner.invoke(app, ["caption-dir", str(folder), "--format", "txt", *extra])
        assert result.exit_code == 2 and "vlm export DIR --to txt" in result.stderr, result.output
    assert sorted(p.name for p in folder.iterdir()) == ["minutes.pdf"]


def test_input_format_pdf_finds_pdfs_by_content_too(tmp_path):
    """A PDF saved as .jpg was counted among the skipped PDFs of a folder walk, but
    --input-format pdf (which the summary points to) went by extension and never read it."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.new("RGB", (32, 24), "red").save(folder / "photo.jpg")
    (folder / "scan.jpg").write_bytes(text_pdf([["One"], ["Two"]]))
    walked = caption(str(folder), "-o", str(tmp_path / "out"))
    assert json.loads(walked.stdout)["documents_skipped"] == 1
    pages = caption(str(folder), "-o", str(tmp_path / "pages"), "--input-format", "pdf")
    assert pages.exit_code == 0, pages.output
    assert sorted(r["path"].rsplit("/", 1)[-1] for r in rows(tmp_path / "pages")) == ["scan.jpg::page-0001", "scan.jpg::page-0002"]


def test_pages_are_rendered_within_the_pixel_limit_as_ask_renders_them(tmp_path, monkeypatch):
    """A poster page was rendered under the built-in limit, then refused under a lower
    VLM_MAX_IMAGE_PIXELS ("shrink it": a page cannot be shrunk); now it is rendered as large as
    the limit allows, in caption-dir and through its item address alike."""
    monkeypatch.setenv("VLM_MAX_IMAGE_PIXELS", "400000")
    pdf = tmp_path / "poster.pdf"
    pdf.write_bytes(text_pdf([["Poster"]], size=(1728, 2592)))  # 24 x 36 in: 3600 x 5400 at 150 dpi
    out = tmp_path / "out"
    result = caption(str(pdf), "-o", str(out))
    assert result.exit_code == 0, result.output
    (row,) = rows(out)
    assert row["status"] == "ok" and 380_000 < row["width"] * row["height"] <= 400_000
    asked = runner.invoke(app, ["ask", f"{pdf}::page-1", "What is it?", "--json"])
    assert asked.exit_code == 0, asked.output


def test_a_pdf_beside_pictures_names_the_separate_run_not_input_format(tmp_path):
    """The advice was "or force one kind with --input-format", which reads the picture as a
    damaged PDF (or the PDF as a picture)."""
    Image.new("RGB", (32, 24), "red").save(tmp_path / "photo.jpg")
    (tmp_path / "my scan.pdf").write_bytes(text_pdf([["Scan"]]))
    result = runner.invoke(app, ["caption-dir", str(tmp_path / "my scan.pdf"), str(tmp_path / "photo.jpg"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "is a PDF (its pages are captioned as a dataset)" in result.stderr and "--input-format" not in result.stderr
    assert f"vlm caption-dir '{tmp_path / 'my scan.pdf'}' -o <folder>" in result.stderr


def test_a_rerun_over_several_documents_logs_what_its_summary_counts(tmp_path):
    """The log said "0/0 done (...; 2 already done)" above "5 skipped as already done": the
    progress counted the first shard's finished items only."""
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "a.pdf").write_bytes(text_pdf([["One"], ["Two"]]))
    (folder / "b.pdf").write_bytes(text_pdf([["Three"], ["Four"], ["Five"]]))
    out = tmp_path / "out"
    assert runner.invoke(app, ["caption-dir", str(folder), "-o", str(out), "--format", "jsonl"]).exit_code == 0
    again = runner.invoke(app, ["caption-dir", str(folder), "-o", str(out), "--format", "jsonl"])
    assert again.exit_code == 0, again.output
    lines = again.stderr.splitlines()
    assert "Captioning: 0/0 done (0 ok, 0 errors; 5 already done)" in lines
    assert any(line.startswith("Done: 0 ok, 0 errors, 5 skipped as already done") for line in lines)
    single = runner.invoke(app, ["caption-dir", str(folder / "b.pdf"), "-o", str(out), "--format", "jsonl"])
    assert "Captioning 0 items (3 already done)" in single.stderr.splitlines()


def test_a_zip_of_pdfs_is_read_page_by_page(tmp_path):
    """A zip of invoices: its PDF members were left out without a word (0 ignored, 0 errors);
    now each page is a row keyed `<member>::page-0001`, askable and exportable by that key."""
    import zipfile

    archive = tmp_path / "docs.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("2024/march.pdf", text_pdf([["Invoice"], ["Total 42"]]))
        z.writestr("locked.pdf", locked_pdf())
        buffer = tmp_path / "p.jpg"
        Image.new("RGB", (32, 24), "red").save(buffer)
        z.write(buffer, "photo.jpg")
    out = tmp_path / "out"
    dry = runner.invoke(app, ["caption-dir", str(archive), "-o", str(out), "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["dataset"]["samples"] == 4  # two pages, the locked PDF's error, the photo
    result = caption(str(archive), "-o", str(out))
    assert result.exit_code == 9, result.output
    got = {r["source_key"]: r for r in rows(out)}
    assert sorted(got) == ["2024/march.pdf::page-0001", "2024/march.pdf::page-0002", "locked.pdf", "photo.jpg"]
    assert got["2024/march.pdf::page-0002"]["path"] == f"{archive}::2024/march.pdf::page-0002"
    assert "locked.pdf is an encrypted PDF" in got["locked.pdf"]["error"]
    for address in (f"{archive}::2024/march.pdf::page-0002", f"{archive}::2024/march.pdf#page=2"):
        asked = runner.invoke(app, ["ask", address, "What is the total?", "--json"])
        assert asked.exit_code == 0, asked.output
        assert json.loads(asked.stdout)["images"][0]["width"] == 1275
    whole = runner.invoke(app, ["ask", f"{archive}::2024/march.pdf", "Summarise.", "--json", "--pages", "2"])
    assert whole.exit_code == 0, whole.output
    assert [i["path"] for i in json.loads(whole.stdout)["images"]] == [f"{archive}::2024/march.pdf#page=2"]
    missing = runner.invoke(app, ["ask", f"{archive}::2024/march.pdf::page-0003", "What?"])
    assert missing.exit_code != 0 and "its pages are page-0001 to page-0002" in missing.stderr
    exported = runner.invoke(app, ["export", str(out), "--to", "imagefolder", "-o", str(tmp_path / "exp")])
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "exp" / "2024_march_pdf" / "page-0002.png").is_file()
    assert not [p for p in (tmp_path / "exp").rglob("*") if ":" in p.name]


def test_a_webdataset_of_pdfs_is_read_page_by_page(tmp_path):
    """Document datasets in WebDataset shards (pixparse/pdfa-eng-wds: `pdf` + `json` per key):
    each key was an error row "has no image or video (fields: json, pdf)"."""
    import io
    import tarfile

    shard = tmp_path / "pdfa-000000.tar"
    members = {
        "doc001.pdf": text_pdf([["Invoice"], ["Total 42"]]),
        "doc001.json": json.dumps({"url": "https://example.org/a.pdf"}).encode(),
        "doc002.pdf": locked_pdf(),
        "img003.jpg": b"",
    }
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), "red").save(buffer, format="JPEG")
    members["img003.jpg"] = buffer.getvalue()
    with tarfile.open(shard, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out = tmp_path / "out"
    dry = runner.invoke(app, ["caption-dir", str(shard), "-o", str(out), "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["dataset"]["samples"] == 4  # two pages, the locked PDF's error, the photo
    result = caption(str(shard), "-o", str(out), "--keep-columns", "url")
    assert result.exit_code == 9, result.output
    got = {r["source_key"]: r for r in rows(out)}
    assert sorted(got) == ["doc001::page-0001", "doc001::page-0002", "doc002", "img003"]
    assert got["doc001::page-0002"]["status"] == "ok" and got["doc001::page-0002"]["width"] == 1275
    assert json.loads(got["doc001::page-0001"]["extra"]) == {"url": "https://example.org/a.pdf"}  # on each page
    assert "doc002.pdf is an encrypted PDF" in got["doc002"]["error"]
    asked = runner.invoke(app, ["ask", f"{shard}::doc001::page-0002", "What is the total?", "--json"])
    assert asked.exit_code == 0, asked.output
    exported = runner.invoke(app, ["export", str(out), "--to", "imagefolder", "-o", str(tmp_path / "exp")])
    assert exported.exit_code == 0, exported.output
    assert not [p for p in (tmp_path / "exp").rglob("*") if ":" in p.name]
