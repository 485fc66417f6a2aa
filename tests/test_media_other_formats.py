"""Pictures in the formats other programs write, checked against Pillow's own test corpus
(pillow-11.3.0/Tests/images: 1,088 files, none a crash, hang or multi-line error). Found there:
a modern favicon.ico (PNG entries) was read as a 32x19140 TGA and refused as damaged (TGA, the
format without a magic number, was tried before ICO); Photoshop PSDs, icons (ICNS), game
textures (DDS), SGI, Sun raster, PCX, PhotoCD, XPM and FITS frames, all of which Pillow reads,
were "not an image". Formats still left out are refused by name."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.errors import InputError
from vlmcli.exports.images import media_extension
from vlmcli.media.images import decode_image
from vlmcli.testing.fakes import install_fake_engine, isolate_env, real_photo
from vlmcli.testing.fakes import caption_dir as caption
from vlmcli.testing.media.other_pictures import fits_bytes, psd_bytes


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.asarray(real_photo("coffee").resize((64, 48)))  # (H, W, 3) uint8


def _saved(picture: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_a_favicon_with_png_entries_is_an_icon_not_a_tga(photo):
    icon = Image.fromarray(photo).resize((256, 256))
    data = _saved(icon, "ICO", sizes=[(16, 16), (32, 32), (256, 256)])  # the 256 px entry is a PNG
    read = decode_image(data, "favicon.ico")
    assert read.size == (256, 256)
    assert np.abs(np.asarray(read).astype(int) - np.asarray(icon).astype(int)).mean() < 1.0


@pytest.mark.parametrize(("fmt", "name", "lossless"), [("ICNS", "app.icns", False), ("DDS", "texture.dds", True),
                                                        ("SGI", "frame.sgi", True), ("PCX", "scan.pcx", True)])
def test_formats_pillow_reads_are_pictures(photo, fmt, name, lossless):
    picture = Image.fromarray(photo)
    if fmt == "ICNS":
        picture = picture.resize((512, 512))  # an icon's sizes
    read = np.asarray(decode_image(_saved(picture, fmt), name)).astype(int)
    expected = np.asarray(picture.resize((read.shape[1], read.shape[0]))).astype(int)  # an icon: its largest size
    assert read.shape == (*expected.shape[:2], 3) and read.shape[0] >= picture.height
    assert np.abs(read - expected).mean() < (0.01 if lossless else 2.0)


def test_a_photoshop_file_is_its_merged_picture_not_a_layer(photo):
    layer = np.full_like(photo, 7)
    data = psd_bytes(photo, layers=[layer])
    assert Image.open(io.BytesIO(data)).n_frames == 1  # Pillow's frames are the layers
    assert (np.asarray(decode_image(data, "poster.psd")) == photo).all()
    assert (np.asarray(decode_image(psd_bytes(photo), "flat.psd")) == photo).all()


def test_a_fits_frame_is_stretched_as_astronomy_viewers_show_it():
    rng = np.random.default_rng(0)
    counts = rng.normal(300, 5, size=(40, 50)).astype(np.int16)  # sky background, far below 16 bits
    counts[10, 10], counts[30, 40] = 2800, 1500  # two stars
    read = np.asarray(decode_image(fits_bytes(counts), "m13.fits"))[::-1, :, 0]  # FITS rows run bottom to top
    assert read[10, 10] == 255 and read[30, 40] == 255  # above the 99.5th percentile
    assert 60 < np.median(read) < 200  # the background is seen (scaled by 16 bits it was 1 of 255)
    flat = np.full((40, 50), 300, dtype=np.int16)
    flat[10, 10] = 2800  # one star on an even background: the percentiles meet
    shown = np.asarray(decode_image(fits_bytes(flat), "flat.fits"))[::-1, :, 0]
    assert shown[10, 10] == 255 and shown.sum() == 255


def test_formats_left_out_are_refused_by_name():
    data = _saved(Image.new("1", (16, 16)), "XBM")  # a C header's `#define` starts one too
    with pytest.raises(InputError, match=r"^icon\.xbm is a picture in the XBM format \(X11 Bitmap\), which vlmcli does not read: convert it to PNG first"):
        decode_image(data, "icon.xbm")


def test_a_folder_of_them_is_walked_captioned_and_exported(monkeypatch, photo, tmp_path):
    install_fake_engine(monkeypatch)
    folder = tmp_path / "design"
    folder.mkdir()
    files = {
        "poster.psd": psd_bytes(photo), "app.icns": _saved(Image.fromarray(photo).resize((256, 256)), "ICNS"),
        "stars.fits": fits_bytes(np.full((8, 8), 100, dtype=np.int16)), "favicon.ico": _saved(Image.fromarray(photo), "ICO"),
        "notes.xbm": _saved(Image.new("1", (8, 8)), "XBM"),  # not walked: not a picture vlmcli reads
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    summary = caption(folder, "-o", tmp_path / "out")
    assert (summary["ok"], summary["error"]) == (4, 0)
    assert [media_extension(files[n]) for n in ("poster.psd", "app.icns", "stars.fits")] == ["psd", "icns", "fits"]
    result = CliRunner().invoke(app, ["describe", str(folder / "notes.xbm")])
    assert result.exit_code == 3 and "in the XBM format" in result.stderr


def test_report_thumbnails_show_what_the_model_was_shown(photo, tmp_path):
    """`vlm report` made its own thumbnails with a bare convert("RGB"): transparency on black,
    a FITS frame black (clipped to 8 bits), colours unmanaged. Now they come from decode_image."""
    import base64

    from vlmcli.report.thumbs import thumbnail_uri

    def shown(path) -> np.ndarray:
        uri = thumbnail_uri(str(path))
        assert uri is not None and uri.startswith("data:image/jpeg;base64,")
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))).astype(int)

    clear = tmp_path / "sticker.png"
    Image.new("RGBA", (32, 32), (0, 0, 0, 0)).save(clear)
    assert shown(clear).min() >= 250  # on white, as the model sees it
    stars = np.random.default_rng(1).normal(300, 5, size=(40, 50)).astype(np.int16)
    (tmp_path / "m13.fits").write_bytes(fits_bytes(stars))
    assert shown(tmp_path / "m13.fits").mean() > 60  # stretched, not black


def _patched_tiff(tag: int, count: int, value: int) -> bytes:
    """A small RGB TIFF from Pillow with one directory entry rewritten (count and value)."""
    import struct

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="TIFF")
    data = bytearray(buffer.getvalue())
    first = struct.unpack_from("<I", data, 4)[0]
    for entry in range(struct.unpack_from("<H", data, first)[0]):
        at = first + 2 + 12 * entry
        if struct.unpack_from("<H", data, at)[0] == tag:
            struct.pack_into("<II", data, at + 4, count, value)
    return bytes(data)


FAKE_VLM = """
import sys
from vlmcli.commands import _runtime
from vlmcli.testing.fakes import FakeEngine
_runtime.load_engine = FakeEngine
_runtime.check_model = lambda config, **_: None
sys.argv = ["vlm", *sys.argv[1:]]
from vlmcli.cli import main
main()
"""


def test_damaged_tiffs_in_a_folder_keep_stderr_to_the_run(tmp_path):
    """From Pillow's corpus: probing a TIFF whose tag data runs past its end printed Python
    UserWarnings, one with 65535 samples per pixel Pillow's logged error ("More samples per
    pixel than can be decoded"), through Python's last-resort handler, among the progress
    lines. Run as a user runs it (a process of its own: pytest would catch both)."""
    import subprocess
    import sys

    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "tag_past_end.tif").write_bytes(_patched_tiff(258, 3000, 100_000))
    (folder / "samples.tif").write_bytes(_patched_tiff(277, 1, 65535))
    Image.new("RGB", (8, 8), "blue").save(folder / "fine.png")
    run = subprocess.run(
        [sys.executable, "-c", FAKE_VLM, "caption-dir", str(folder), "-o", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 9, run.stderr
    lines = run.stderr.splitlines()
    assert lines[0].startswith("Reading 3 files") and lines[-1].startswith("  error: ")
    assert not [line for line in lines if "Warning" in line or "More samples" in line or "warnings.warn" in line]


def test_a_variant_pillow_lacks_is_not_called_damaged(tmp_path):
    """A BMP whose pixels are a PNG (BI_PNG, as Windows can write it): Pillow says unsupported."""
    import struct

    png = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(png, format="PNG")
    payload = png.getvalue()
    info = struct.pack("<IiiHHIIiiII", 40, 4, 4, 1, 0, 5, len(payload), 2835, 2835, 0, 0)  # 0 bits, BI_PNG
    data = b"BM" + struct.pack("<IHHI", 14 + 40 + len(payload), 0, 0, 54) + info + payload
    with pytest.raises(InputError, match=r"^logo\.bmp cannot be decoded: Pillow does not support what its header describes \(Unsupported"):
        decode_image(data, "logo.bmp")
