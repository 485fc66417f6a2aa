"""caption-dir over a zip of pictures, as Kaggle and Google Drive hand them out and as the
`zip` tool and macOS's Archive Utility write them: nested folders, `__MACOSX/._*` resource
forks, a README, one encrypted member, one damaged member. Before, a .zip INPUT was one error
row ("not an image") and a walked one was ignored; now it is read like a tar shard, without
unpacking, keyed by each member's path."""

from __future__ import annotations

import shutil
import subprocess
import zipfile

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.commands import _runtime
from vlmcli.exports.results import read_results
from vlmcli.inputs.formats import InputFormat, detect_format
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import caption_dir as caption, install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes

runner = CliRunner()
ZIP = shutil.which("zip")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)



@pytest.fixture
def download(tmp_path):
    """kaggle.zip by the `zip` tool: train/{cats,dogs}/*.jpg, macOS debris, a README; then one
    member added with a password."""
    if ZIP is None:
        pytest.skip("the zip tool is not installed")
    tree = tmp_path / "tree"
    for i, photo in enumerate(sample_photos()[:3]):
        folder = tree / "train" / ("cats" if i < 2 else "dogs")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}.jpg").write_bytes(jpeg_bytes(photo))
    (tree / "__MACOSX" / "train" / "cats").mkdir(parents=True)
    (tree / "__MACOSX" / "train" / "cats" / "._0.jpg").write_bytes(b"\x00\x05\x16\x07 resource fork")
    (tree / "train" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (tree / "README.txt").write_text("Cats and dogs.\n")
    archive = tmp_path / "kaggle.zip"
    subprocess.run([ZIP, "-q", "-r", str(archive), "train", "__MACOSX", "README.txt"], cwd=tree, check=True)
    (tree / "secret.jpg").write_bytes(jpeg_bytes(sample_photos()[0]))
    subprocess.run([ZIP, "-q", "-P", "pw", str(archive), "secret.jpg"], cwd=tree, check=True)
    return archive


def test_a_download_is_captioned_without_unpacking(monkeypatch, download, tmp_path):
    assert detect_format(download) is InputFormat.ZIP
    install_fake_engine(monkeypatch)
    summary = caption(download, "-o", tmp_path / "out", code=9)
    assert (summary["ok"], summary["error"]) == (3, 1)
    rows = {r["source_key"]: r for r in read_results(tmp_path / "out")}
    assert sorted(rows) == ["secret.jpg", "train/cats/0.jpg", "train/cats/1.jpg", "train/dogs/2.jpg"]
    assert "cannot be read" in rows["secret.jpg"]["error"] and "encrypted" in rows["secret.jpg"]["error"]
    again = caption(download, "-o", tmp_path / "out", code=9)
    assert (again["ok"], again["skipped"]) == (0, 3)
    page = tmp_path / "report.html"
    assert runner.invoke(app, ["report", str(tmp_path / "out"), "-o", str(page)]).exit_code == 0
    assert page.read_text().count('<img src="data:image/jpeg;base64,') == 3


def test_a_damaged_member_and_a_truncated_archive(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as writer:
        for i, photo in enumerate(sample_photos()[:2]):
            writer.writestr(f"{i}.jpg", jpeg_bytes(photo))
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as reader:
        first = reader.infolist()[0]
        start = first.header_offset + 30 + len(first.filename.encode()) + len(first.extra)
    data[start + 100 : start + 110] = b"\xff" * 10  # inside 0.jpg's compressed bytes
    archive.write_bytes(bytes(data))
    summary = caption(archive, "-o", tmp_path / "a", code=9)
    assert (summary["ok"], summary["error"]) == (1, 1)
    (broken,) = [r for r in read_results(tmp_path / "a") if r["status"] == "error"]
    assert broken["source_key"] == "0.jpg" and "is damaged in the archive" in broken["error"]
    (tmp_path / "cut.zip").write_bytes(bytes(data[: len(data) // 2]))
    cut = caption(tmp_path / "cut.zip", "-o", tmp_path / "b", code=9)
    assert cut["shard_errors"] and "not a readable zip archive" in cut["shard_errors"][0]


def test_folders_of_archives_and_names(monkeypatch, tmp_path):
    monkeypatch.setattr(_runtime, "check_model", lambda config, **_: None)  # the inputs' error, whatever the network
    (tmp_path / "zips").mkdir()
    for name in ("a.zip", "b.cbz"):
        with zipfile.ZipFile(tmp_path / "zips" / name, "w") as writer:
            writer.writestr("p.jpg", jpeg_bytes(sample_photos()[0]))
    assert detect_format(tmp_path / "zips") is InputFormat.ZIP
    assert detect_format(tmp_path / "zips" / "b.cbz") is InputFormat.ZIP  # a comic book
    (tmp_path / "zips" / "a.zip").rename(tmp_path / "zips" / "report.docx")  # a zip by content, a document by name
    assert detect_format(tmp_path / "zips" / "report.docx") is InputFormat.FILES
    (tmp_path / "zips" / "cover.jpg").write_bytes(jpeg_bytes(sample_photos()[0]))
    result = caption(tmp_path / "zips", "-o", tmp_path / "out", code=2)
    assert "--input-format zip or --input-format files" in result.stderr


def test_members_have_no_columns(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as writer:
        writer.writestr("p.jpg", jpeg_bytes(sample_photos()[0]))
    result = caption(tmp_path / "a.zip", "-o", tmp_path / "out", "--keep-columns", "label", code=2)
    assert "members have no columns" in result.stderr


def test_kept_columns_of_tars_beside_zips_leave_the_zips_items_empty(monkeypatch, tmp_path):
    """A folder of a tar (keys with `.json` columns) and a zip, with --keep-columns url: the
    zip refused the flag halfway through the run (exit 2, the tar's rows already written)."""
    import io
    import json
    import tarfile

    install_fake_engine(monkeypatch)
    folder = tmp_path / "mixed"
    folder.mkdir()
    photo = jpeg_bytes(sample_photos()[0])
    with tarfile.open(folder / "00000.tar", "w") as tar:
        for name, data in (("k1.jpg", photo), ("k1.json", json.dumps({"url": "https://example.org/1"}).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with zipfile.ZipFile(folder / "more.zip", "w") as writer:
        writer.writestr("p.jpg", jpeg_bytes(sample_photos()[1]))
    out = tmp_path / "out"
    caption(folder, "-o", out, "--keep-columns", "url", "--format", "jsonl", code=0)
    rows = {json.loads(line)["source_key"]: json.loads(line) for f in out.glob("*.jsonl") for line in f.read_text().splitlines()}
    assert json.loads(rows["k1"]["extra"]) == {"url": "https://example.org/1"}
    assert rows["p.jpg"]["status"] == "ok" and json.loads(rows["p.jpg"]["extra"] or "{}").get("url") is None
