"""PDF documents read as the pictures of their pages (`vlm ask invoice.pdf "What is the total?"`).

Before: "doc.pdf is a PDF document, not an image vlmcli can read: render its pages first".
Now `ask` and `describe` render the chosen pages with PDFium (the `pdf` extra), each page one
image named `<file>#page=N`. PDFs here are written by Pillow (pictures) and byte by byte
(text in Helvetica; one locked with a password)."""

from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.errors import BackendUnavailableError, ConfigError, InputError
from vlmcli.media.kinds import is_pdf
from vlmcli.media.pdf_pages import DEFAULT_PAGES, parse_pages, render_pages
from vlmcli.testing.fakes import install_fake_engine, isolate_env
from vlmcli.testing.media.documents import locked_pdf, text_pdf

runner = CliRunner()
COLOURS = ["red", "green", "blue"]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def pillow_pdf(count: int = 3) -> bytes:
    """`count` pages of 600x800 px at 100 dpi (6 x 8 in), page i with a box in COLOURS[i % 3]."""
    pages = []
    for i in range(count):
        page = Image.new("RGB", (600, 800), "white")
        ImageDraw.Draw(page).rectangle([100, 100, 500, 300], fill=COLOURS[i % 3])
        pages.append(page)
    buffer = io.BytesIO()
    pages[0].save(buffer, "PDF", save_all=True, append_images=pages[1:], resolution=100)
    return buffer.getvalue()


# --- pure ---------------------------------------------------------------------------------------


def test_page_lists():
    assert parse_pages("1-3,7").indices(10) == [0, 1, 2, 6]
    assert parse_pages("5-").indices(7) == [4, 5, 6]
    assert parse_pages("3, 1, 3-4").indices(10) == [2, 0, 3]  # the order given, each page once
    assert parse_pages("2-40").indices(3) == [1, 2] and parse_pages("9").indices(3) == []
    for bad in ("0", "3-1", "a", "1,,2", "-3", ""):
        with pytest.raises(ConfigError, match="--pages"):
            parse_pages(bad)


def test_pdfs_are_known_by_their_marker():
    assert is_pdf(b"%PDF-1.7\n") and is_pdf(b"\r\n%PDF-1.4") and is_pdf(b"\xef\xbb\xbf%PDF-1.3")
    assert not is_pdf(b"\xff\xd8\xff\xe0 %PDF-1.4 in a JPEG's metadata") and not is_pdf(b"")


# --- rendering ----------------------------------------------------------------------------------


def test_pages_are_rendered_at_150_dpi_in_order():
    document = render_pages(pillow_pdf(), "boxes.pdf")
    assert document.page_count == 3 and document.left_out == 0
    assert [page.number for page in document.pages] == [1, 2, 3]
    for page, colour in zip(document.pages, [(255, 0, 0), (0, 128, 0), (0, 0, 255)]):
        assert abs(page.image.width - 900) <= 1 and abs(page.image.height - 1200) <= 1  # 6 x 8 in at 150 dpi
        assert np.abs(np.subtract(page.image.getpixel((450, 300)), colour)).max() <= 3  # Pillow stores pages as JPEG
        assert min(page.image.getpixel((10, 10))) >= 252
    assert len({page.key for page in document.pages}) == 3


def test_text_is_drawn_and_pages_are_chosen():
    document = render_pages(text_pdf([["Invoice 42", "Total: 17.50 EUR"], ["Page two"], ["Page three"]]), "invoice.pdf",
                            pages=parse_pages("3,1"))
    assert [page.number for page in document.pages] == [3, 1]
    ink = [(np.asarray(page.image) < 128).any(axis=2).sum() for page in document.pages]
    assert ink[0] > 500 and ink[1] > ink[0]  # black Helvetica, more of it on page 1
    assert document.pages[1].image.size == (1275, 1651)  # US Letter at 150 dpi


def test_a_long_document_is_read_from_its_first_pages():
    document = render_pages(pillow_pdf(DEFAULT_PAGES + 3), "report.pdf")
    assert len(document.pages) == DEFAULT_PAGES and document.left_out == 3 and document.page_count == DEFAULT_PAGES + 3


def test_locked_damaged_and_empty_choices_are_one_line():
    with pytest.raises(InputError, match=r"locked\.pdf is an encrypted PDF \(it needs a password\)"):
        render_pages(locked_pdf(), "locked.pdf")
    with pytest.raises(InputError, match=r"^cut\.pdf is a damaged PDF, or one without pages, that cannot be read \(.*\)\.$"):
        render_pages(pillow_pdf()[:2000], "cut.pdf")
    with pytest.raises(InputError, match=r"^empty\.pdf is a damaged PDF, or one without pages") as empty:
        render_pages(text_pdf([]), "empty.pdf")
    assert "Success" not in str(empty.value)  # PDFium's "error" for a document without pages
    with pytest.raises(InputError, match="has 3 pages; --pages chose none"):
        render_pages(pillow_pdf(), "boxes.pdf", pages=parse_pages("7-9"))


def test_without_pypdfium2_the_error_says_how(monkeypatch):
    monkeypatch.setitem(sys.modules, "pypdfium2", None)
    with pytest.raises(BackendUnavailableError, match=r"pip install 'vlmcli\[pdf\]'.*pdftoppm -png -r 150"):
        render_pages(pillow_pdf(), "boxes.pdf")


# --- commands -----------------------------------------------------------------------------------


def test_ask_sees_every_page_in_order(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    (tmp_path / "boxes.pdf").write_bytes(pillow_pdf())
    Image.new("RGB", (32, 24), "gray").save(tmp_path / "photo.jpg")
    result = runner.invoke(app, ["ask", str(tmp_path / "photo.jpg"), str(tmp_path / "boxes.pdf"), "Which colours?", "--json"])
    assert result.exit_code == 0, result.output
    images = [image["path"] for image in json.loads(result.stdout)["images"]]
    assert images == [str(tmp_path / "photo.jpg")] + [f"{tmp_path / 'boxes.pdf'}#page={n}" for n in (1, 2, 3)]


def test_describe_gives_one_answer_per_document_and_goes_on_after_a_bad_one(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    (tmp_path / "long.pdf").write_bytes(pillow_pdf(DEFAULT_PAGES + 2))
    (tmp_path / "cut.pdf").write_bytes(pillow_pdf()[:2000])
    (tmp_path / "one.pdf").write_bytes(text_pdf([["Hello"]]))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["describe", "long.pdf", "cut.pdf", "one.pdf", "--json"])
    assert result.exit_code == 9, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [len(r.get("images", [])) for r in records] == [DEFAULT_PAGES, 0, 1]
    assert "error" in records[1] and "cut.pdf is a damaged PDF" in result.stderr
    assert f"long.pdf has {DEFAULT_PAGES + 2} pages; the first {DEFAULT_PAGES} are read" in result.stderr
    chosen = runner.invoke(app, ["describe", "long.pdf", "--pages", "9-", "--json"])
    assert chosen.exit_code == 0 and [i["path"][-7:] for i in json.loads(chosen.stdout)["images"]] == ["#page=9", "page=10"]


def test_a_pdf_on_stdin_and_a_bad_page_list(monkeypatch):
    install_fake_engine(monkeypatch)
    result = runner.invoke(app, ["ask", "-", "What is it?", "--json", "--pages", "2"], input=pillow_pdf())
    assert result.exit_code == 0, result.output
    assert [i["path"] for i in json.loads(result.stdout)["images"]] == ["-#page=2"]
    bad = runner.invoke(app, ["ask", "-", "What is it?", "--pages", "two"], input=pillow_pdf())
    assert bad.exit_code == 2 and "'two' is not a page or range" in bad.stderr


def test_no_pixel_limit_renders_at_full_resolution(monkeypatch, tmp_path):
    """VLM_MAX_IMAGE_PIXELS=0 (no limit) made the page scale 0: 'unexpected ValueError', exit 1."""
    document = render_pages(pillow_pdf(1), "boxes.pdf", max_pixels=0)
    assert abs(document.pages[0].image.width - 900) <= 1
    install_fake_engine(monkeypatch)
    monkeypatch.setenv("VLM_MAX_IMAGE_PIXELS", "0")
    (tmp_path / "boxes.pdf").write_bytes(pillow_pdf(1))
    result = runner.invoke(app, ["ask", str(tmp_path / "boxes.pdf"), "What is it?", "--json"])
    assert result.exit_code == 0, result.output


def test_video_summarize_refuses_a_pdf(monkeypatch, tmp_path):
    """ffmpeg finds the JPEG pictures inside a scanned PDF: video-summarize summarised a 0.1 s
    'clip' of its pages."""
    install_fake_engine(monkeypatch)  # the input's error, whatever the network (no hub lookup of the model)
    (tmp_path / "scan.pdf").write_bytes(pillow_pdf(3))
    result = runner.invoke(app, ["video-summarize", str(tmp_path / "scan.pdf"), "--dry-run"])
    assert result.exit_code == 3 and "is a PDF document, not a video: vlm ask and vlm describe read its pages" in result.stderr


def test_a_page_named_as_json_names_it_can_be_asked_about(monkeypatch, tmp_path):
    """`--json` names a page `<file>#page=N`; passed back as an input it was "No such file"."""
    install_fake_engine(monkeypatch)
    (tmp_path / "boxes.pdf").write_bytes(pillow_pdf(3))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["ask", "boxes.pdf#page=2", "What colour?", "--json"])
    assert result.exit_code == 0, result.output
    assert [i["path"] for i in json.loads(result.stdout)["images"]] == ["boxes.pdf#page=2"]
    missing = runner.invoke(app, ["ask", "boxes.pdf#page=9", "What colour?"])
    assert missing.exit_code == 3 and "has 3 pages; --pages chose none" in missing.stderr


def test_pages_without_a_pdf_says_it_chose_nothing(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    Image.new("RGB", (32, 24), "gray").save(tmp_path / "photo.jpg")
    for command in (["ask", str(tmp_path / "photo.jpg"), "What?"], ["describe", str(tmp_path / "photo.jpg")]):
        result = runner.invoke(app, [*command, "--pages", "2"])
        assert result.exit_code == 0 and "note: --pages applies to PDF inputs, and none was given." in result.stderr


def test_pages_past_the_end_are_noted(monkeypatch, tmp_path):
    """`--pages 1-3,7` of a 3-page PDF dropped page 7 without a word (all past the end: an error)."""
    install_fake_engine(monkeypatch)
    pdf = tmp_path / "boxes.pdf"
    pdf.write_bytes(pillow_pdf(3))
    result = runner.invoke(app, ["ask", str(pdf), "What colour?", "--pages", "1-3,7,2-9,3-", "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["images"]) == 3
    assert result.stderr.splitlines() == [f"note: {pdf} has 3 pages; --pages 7,2-9 asked for pages past its end, left out."]
    assert runner.invoke(app, ["ask", str(pdf), "What colour?", "--pages", "2-"]).stderr == ""
