"""Camera raw files are read by the large JPEG preview the camera embedded: a photographer's
card dump (NEF, CR2, CR3, ARW, DNG, ...) is captioned. Before, a named raw file was refused
("vlmcli would see only the small preview inside it") and a folder of raws gave nothing.
A raw beside its JPEG (RAW+JPEG shooting) is still left to the JPEG. The files are laid out
as the formats are (`testing/media/raw_files.py`; no real raw file can be fetched here)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.errors import InputError
from vlmcli.exports.results import read_results
from vlmcli.media.images import decode_image
from vlmcli.media.kinds import MediaKind, detect_kind
from vlmcli.media.raw_preview import embedded_jpegs, largest_preview, orientation
from vlmcli.testing.fakes import caption_dir as caption, install_fake_engine, isolate_env, real_photo
from vlmcli.testing.media.raw_files import cr3_raw, jpeg, preview_of, tiff_raw


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return real_photo("astronaut")


def _as_decoded(picture: Image.Image, turn: int = 1) -> np.ndarray:
    decoded = Image.open(io.BytesIO(jpeg(picture)))
    exif = decoded.getexif()
    exif[0x0112] = turn
    return np.asarray(ImageOps.exif_transpose(decoded).convert("RGB")).astype(int)


def test_the_preview_is_found_and_the_sensor_data_skipped(photo):
    data = tiff_raw(photo, orientation=6)
    found = embedded_jpegs(data)
    assert [(j.width, j.height) for j in found] == [(1600, 1600)]  # the SOF3 sensor data is no candidate
    assert largest_preview(data) == found[0] and orientation(data) == 6
    assert largest_preview(b"\xff\xd8\xff\xe0junk" * 10) is None and orientation(b"\xff\xd8") == 1


def test_a_nef_like_raw_is_its_preview_turned_as_the_camera_held_it(photo):
    landscape = photo.crop((0, 100, 512, 400))  # 512x300: a landscape preview, turned to portrait
    read = decode_image(tiff_raw(landscape, orientation=6), "DSC_0001.NEF")
    assert read.size == (938, 1600)
    expected = _as_decoded(preview_of(landscape), turn=6)
    assert np.abs(np.asarray(read).astype(int) - expected).mean() < 1.0


def test_a_cr3_is_a_picture_not_a_video(photo):
    data = cr3_raw(photo)
    assert detect_kind("IMG_0001.CR3", data[:32]) is not MediaKind.VIDEO  # its ftyp box is not a movie's
    read = decode_image(data, "IMG_0001.CR3")
    assert read.size == (1620, 1620)
    assert np.abs(np.asarray(read).astype(int) - _as_decoded(preview_of(photo, 1620))).mean() < 1.0


def test_a_raw_with_only_a_thumbnail_is_refused_with_the_way_out(photo):
    with pytest.raises(InputError, match=r"^old\.NEF is a camera raw file \(Nikon NEF\) holding only a 640x640 thumbnail: export a JPEG"):
        decode_image(tiff_raw(photo, preview_side=640), "old.NEF")


def test_a_card_dump_is_captioned_and_raw_plus_jpeg_pairs_once(monkeypatch, photo, tmp_path):
    install_fake_engine(monkeypatch)
    card = tmp_path / "DCIM"
    card.mkdir()
    (card / "DSC_0001.NEF").write_bytes(tiff_raw(photo, orientation=8))
    (card / "IMG_0002.CR3").write_bytes(cr3_raw(photo))
    (card / "DSC_0003.NEF").write_bytes(tiff_raw(photo))  # shot RAW+JPEG: the JPEG is the picture
    (card / "DSC_0003.Jpg").write_bytes(jpeg(preview_of(photo)))  # any case
    summary = caption(card, "-o", tmp_path / "out")
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in read_results(tmp_path / "out")}
    assert summary["ok"] == 3 and sorted(rows) == ["DSC_0001.NEF", "DSC_0003.Jpg", "IMG_0002.CR3"]
    assert (rows["DSC_0001.NEF"]["width"], rows["DSC_0001.NEF"]["height"]) == (1600, 1600)
    result = CliRunner().invoke(app, ["describe", str(card / "DSC_0003.NEF")])  # named: read too
    assert result.exit_code == 0, result.output


def test_the_report_shows_a_raw_files_preview(photo, tmp_path):
    from vlmcli.report.thumbs import thumbnail_uri

    (tmp_path / "IMG_0002.CR3").write_bytes(cr3_raw(photo))
    assert (thumbnail_uri(str(tmp_path / "IMG_0002.CR3")) or "").startswith("data:image/jpeg;base64,")


def test_the_dry_run_knows_a_raw_without_a_preview_is_an_error(monkeypatch, photo, tmp_path):
    install_fake_engine(monkeypatch)
    card = tmp_path / "card"
    card.mkdir()
    (card / "DSC_0001.NEF").write_bytes(tiff_raw(photo))
    (card / "old.ARW").write_bytes(tiff_raw(photo, preview_side=500))
    result = CliRunner().invoke(app, ["caption-dir", str(card), "-o", str(tmp_path / "out"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "(1 engine request in 1 batch of up to" in result.output and "; 1 known error)" in result.output
    assert "old.ARW is a camera raw file (Sony ARW) holding only a 500x500 thumbnail" in result.output


def test_exports_for_trainers_hold_the_preview_the_caption_describes(monkeypatch, photo, tmp_path):
    """Exported as the .NEF itself, an imagefolder gave `datasets` (Pillow) its 160x120 thumbnail
    beside a caption of the 1600 px preview; now the preview's own JPEG bytes go in."""
    import tarfile

    from vlmcli.media.raw_preview import largest_preview, preview_bytes

    install_fake_engine(monkeypatch)
    card = tmp_path / "card"
    card.mkdir()
    raw = tiff_raw(photo, orientation=1)
    (card / "DSC_0001.NEF").write_bytes(raw)
    caption(card, "-o", tmp_path / "out")
    preview = preview_bytes(raw)
    assert preview is not None and preview.endswith(b"\xff\xd9") and raw.index(preview) == largest_preview(raw).offset
    folder = tmp_path / "imagefolder"
    assert CliRunner().invoke(app, ["export", str(tmp_path / "out"), "--to", "imagefolder", "-o", str(folder)]).exit_code == 0
    assert (folder / "DSC_0001.NEF.jpg").read_bytes() == preview and not (folder / "DSC_0001.NEF").exists()
    import datasets

    loaded = datasets.load_dataset("imagefolder", data_dir=str(folder), split="train")
    assert loaded[0]["image"].size == (1600, 1600)
    shards = tmp_path / "wds"
    assert CliRunner().invoke(app, ["export", str(tmp_path / "out"), "--to", "webdataset", "-o", str(shards)]).exit_code == 0
    with tarfile.open(next(shards.glob("*.tar"))) as tar:
        members = {m.name.rsplit(".", 1)[-1]: tar.extractfile(m).read() for m in tar if m.isfile()}
    assert members["jpg"] == preview


def test_raws_are_known_by_their_bytes_in_shards_and_on_stdin(monkeypatch, photo, tmp_path):
    """A raw file in a tar shard (its row is `shard::key`, no extension) or piped to stdin was
    read as its TIFF thumbnail or not at all; its bytes say what it is (a maker's mark, a DNG
    tag, or a reduced-resolution first image beside a large JPEG)."""
    import tarfile

    from vlmcli.media.raw_preview import raw_signature

    assert raw_signature(tiff_raw(photo)) == "camera raw" and raw_signature(cr3_raw(photo)) == "Canon CR3"
    plain = io.BytesIO()
    photo.save(plain, format="TIFF")
    assert raw_signature(plain.getvalue()) is None  # an ordinary TIFF stays one
    install_fake_engine(monkeypatch)
    shard = tmp_path / "raws.tar"
    with tarfile.open(shard, "w") as tar:
        for name, data in (("a.nef", tiff_raw(photo, orientation=6)), ("b.cr3", cr3_raw(photo))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    summary = caption(shard, "-o", tmp_path / "out")
    sizes = {r["source_key"]: (r["width"], r["height"]) for r in read_results(tmp_path / "out")}
    assert summary["ok"] == 2 and sizes == {"a": (1600, 1600), "b": (1620, 1620)}
    piped = decode_image(tiff_raw(photo.crop((0, 0, 512, 300)), orientation=6), "<stdin>")
    assert piped.size == (938, 1600)  # the preview, turned: not the 160x120 thumbnail
