"""`vlm report`: one self-contained HTML page of a caption run (thumbnails, captions,
status, an error filter), checked as text and, where Debian's chromium is installed, in a
real headless browser (screenshot, and the filter run by the browser's JavaScript)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.report.entries import Entry, sample
from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo

runner = CliRunner()
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def run(monkeypatch, tmp_path) -> tuple[Path, Path]:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("astronaut", "chelsea", "coffee"):
        save_photo(photos / f"{name}.jpg", name)
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    out = tmp_path / "captions"
    install_fake_engine(monkeypatch, answer=lambda r: f"A photo <b>{r.images[0].source.rsplit('/', 1)[-1]}</b> & more")
    assert runner.invoke(app, ["caption-dir", str(photos), "-o", str(out), "-q"]).exit_code == 9
    return photos, out


def test_page_has_thumbnails_captions_errors_and_no_network(run, tmp_path):
    photos, out = run
    page_path = tmp_path / "report.html"
    result = runner.invoke(app, ["report", str(out), "-o", str(page_path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"output": str(page_path), "images": 4, "errors": 1, "shown": 4}
    page = page_path.read_text()
    assert page.count('class="card ok"') == 3 and page.count('class="card error"') == 1
    assert len(re.findall(r'<img src="data:image/jpeg;base64,', page)) == 3 and "no preview" in page
    assert "A photo &lt;b&gt;astronaut.jpg&lt;/b&gt; &amp; more" in page  # captions are escaped, never markup
    assert str(photos / "broken.png") in page and "4 images, 3 ok, 1 with errors" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched from anywhere
    assert 'value="error"' in page and "applyFilter" in page
    refused = runner.invoke(app, ["report", str(out), "-o", str(page_path)])
    assert refused.exit_code != 0 and "--force" in refused.stderr


def test_sample_keeps_errors_up_to_half_and_is_seeded():
    entries = [Entry(path=f"/p/{i:03d}.jpg", status="error" if i % 10 == 0 else "ok") for i in range(100)]
    picked = sample(entries, limit=20, seed=0)
    assert len(picked) == 20 and sum(e.status == "error" for e in picked) == 10
    assert picked == sample(entries, limit=20, seed=0) != sample(entries, limit=20, seed=1)
    assert [e.path for e in picked] == sorted(e.path for e in picked)
    assert sample(entries[:5], limit=20) == entries[:5]


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium here (Debian: apt install chromium)")
def test_page_renders_in_headless_chromium_and_the_filter_works(run, tmp_path):
    _, out = run
    page_path = tmp_path / "report.html"
    assert runner.invoke(app, ["report", str(out), "-o", str(page_path)]).exit_code == 0
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={tmp_path / 'prof'}"]
    shot = tmp_path / "shot.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1200,900", page_path.as_uri()], capture_output=True, timeout=120)
    from PIL import Image

    with Image.open(shot) as image:  # a real rendering: thumbnails put many colours on the page
        assert image.size == (1200, 900) and len(image.convert("RGB").getcolors(1 << 20) or []) > 1000
    # the browser runs the page's script: choosing "errors" hides the ok cards
    errors_only = page_path.read_text().replace(
        "applyFilter();\n", "document.querySelector('input[value=error]').checked=true;applyFilter();\n"
    )
    probe = tmp_path / "probe.html"
    probe.write_text(errors_only)
    dom = subprocess.run([*flags, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert dom.count('style="display: none;"') == 3 and '<span id="shown">1</span>' in dom


def test_video_rows_show_their_middle_frame(monkeypatch, tmp_path):
    """`caption-dir --videos` output: a video's card shows the frame in its middle, upright and
    small; a broken video has no preview, like a broken image."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    from vlmcli.report.thumbs import thumbnail_uri
    from vlmcli.testing.media.video_clips import render_indexed, read_index, write_video

    clip = write_video(tmp_path / "clip.mp4", render_indexed(40, width=640, height=480), fps=25)
    uri = thumbnail_uri(str(clip))
    assert uri is not None and uri.startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as thumb:
        assert thumb.size == (256, 192)
        assert read_index(np.asarray(thumb.convert("RGB").resize((64, 48)))) == 20  # the middle frame
    (tmp_path / "cut.mp4").write_bytes(clip.read_bytes()[:2000])
    assert thumbnail_uri(str(tmp_path / "cut.mp4")) is None

    photos, out = tmp_path / "media", tmp_path / "captions"
    photos.mkdir()
    save_photo(photos / "a.jpg")
    clip.rename(photos / "clip.mp4")
    install_fake_engine(monkeypatch)
    assert runner.invoke(app, ["caption-dir", str(photos), "-o", str(out), "-q", "--videos"]).exit_code == 0
    page_path = tmp_path / "report.html"
    assert runner.invoke(app, ["report", str(out), "-o", str(page_path)]).exit_code == 0
    page = page_path.read_text()
    assert len(re.findall(r'<img src="data:image/jpeg;base64,', page)) == 2 and "no preview" not in page


@pytest.mark.parametrize("kind", ["webdataset", "parquet", "csv"])
def test_dataset_rows_show_their_pictures(monkeypatch, tmp_path, kind):
    """caption-dir over tars, Parquet and CSV: each card shows the item read from its shard
    (was "no preview" for every dataset row); the broken item has none."""
    from vlmcli.testing import sample_photos
    from vlmcli.testing.media.datasets import jpeg_bytes, write_parquet_shards, write_webdataset

    photos = sample_photos()[:3]
    if kind == "webdataset":
        inputs = [str(p) for p in write_webdataset(tmp_path / "wds", photos, shards=2)]
    elif kind == "parquet":
        inputs = [str(p) for p in write_parquet_shards(tmp_path / "pq", photos, shards=2)]
    else:
        for i, photo in enumerate(photos):
            (tmp_path / f"{i}.jpg").write_bytes(jpeg_bytes(photo))
        (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
        (tmp_path / "list.csv").write_text("path\n0.jpg\n1.jpg\n2.jpg\nbroken.jpg\n")
        inputs = [str(tmp_path / "list.csv")]
    install_fake_engine(monkeypatch)
    out = tmp_path / "captions"
    assert runner.invoke(app, ["caption-dir", *inputs, "-o", str(out), "-q"]).exit_code == 9
    page_path = tmp_path / "report.html"
    result = runner.invoke(app, ["report", str(out), "-o", str(page_path), "--json"])
    assert result.exit_code == 0, result.output
    summary, page = json.loads(result.stdout), page_path.read_text()
    previews = len(re.findall(r'<img src="data:image/jpeg;base64,', page))
    assert previews == summary["images"] - summary["errors"] and page.count("no preview") >= 1


def test_a_wrong_folder_is_said_before_any_question_about_the_page(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "report.html").write_text("an earlier page")
    missing = runner.invoke(app, ["report", "nonexist"])
    assert missing.exit_code == 3 and "nonexist is not a folder of caption results" in missing.stderr
    (tmp_path / "photos").mkdir()
    empty = runner.invoke(app, ["report", "photos", "-o", "r.html"])
    assert empty.exit_code == 3 and "has no caption shards" in empty.stderr and "export" not in empty.stderr


def test_a_picture_deleted_since_the_run_says_so(run, tmp_path):
    """It showed as ok with "no preview", as if only its thumbnail had failed."""
    photos, out = run
    (photos / "coffee.jpg").unlink()
    page_path = tmp_path / "report.html"
    assert runner.invoke(app, ["report", str(out), "-o", str(page_path)]).exit_code == 0
    page = page_path.read_text()
    assert page.count("file gone since the run") == 1 and page.count("no preview") == 1  # the broken one


def test_a_page_that_cannot_be_written_whole_leaves_no_cut_off_file(run, tmp_path):
    """Under a file size limit (or a full disk) the page was left cut at the limit, exit 8."""
    import resource
    import sys

    _, out = run
    page_path = tmp_path / "report.html"
    page_path.write_text("an earlier page")

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    result = subprocess.run(
        [sys.executable, "-m", "vlmcli", "report", str(out), "-o", str(page_path), "--force"],
        capture_output=True, text=True, preexec_fn=small_files, timeout=120,
    )
    assert result.returncode == 8, result.stderr
    assert result.stderr.startswith("Error: Cannot write") and str(page_path) in result.stderr
    assert page_path.read_text() == "an earlier page"  # the earlier page as it was
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no partial file
