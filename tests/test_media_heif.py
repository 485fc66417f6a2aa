"""HEIC/HEIF photos (iPhones' default) through the `heif` extra and a clear line without it;
AVIF, which shares the container, read by Pillow itself.

The photos are real HEIC files: skimage's astronaut encoded by libheif's x265 encoder
(pillow-heif), the same container and codec an iPhone writes.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from skimage import data
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.commands import _runtime
from vlmcli.errors import InputError
from vlmcli.media import heif, load_image
from vlmcli.media.heif import is_heif
from vlmcli.testing.fakes import FakeEngine

pytest.importorskip("pillow_heif")  # the test extra installs it

ASTRONAUT = data.astronaut()  # (512, 512, 3)


def heic(pixels: np.ndarray, **kwargs) -> bytes:
    heif.require_heif("test")  # registers the plugin's writer as well as its reader
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="HEIF", quality=90, **kwargs)
    return out.getvalue()


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (ftyp(b"heic", b"mif1", b"heic"), True),
        (ftyp(b"heix", b"mif1"), True),
        (ftyp(b"mif1", b"heic"), True),  # generic major brand: the compatible brands decide
        (ftyp(b"mif1", b"avif"), False),  # AVIF: Pillow reads it without the plugin
        (ftyp(b"mif1", b"heic", b"avif"), False),
        (ftyp(b"avif", b"mif1"), False),
        (ftyp(b"isom", b"mp41"), False),  # an MP4 video
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", False),
        (b"\x00\x00\x00\x18ftyp", False),  # too short to name a brand
    ],
)
def test_is_heif(head, expected):
    assert is_heif(head) is expected


def test_a_real_heic_photo_decodes_like_the_original(tmp_path):
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(heic(ASTRONAUT))
    assert is_heif(path.read_bytes()[:64])
    image = load_image(path).image
    assert image.mode == "RGB" and image.size == (512, 512)
    error = np.abs(np.asarray(image, dtype=np.int16) - ASTRONAUT).mean()
    assert error < 6, error  # lossy HEVC at quality 90


def test_a_rotated_heic_photo_comes_out_upright_once(tmp_path):
    """An iPhone held upright stores landscape pixels plus an orientation. libheif applies it
    (as `irot`) and pillow-heif resets the EXIF tag, so it is not turned a second time."""
    landscape = np.zeros((40, 80, 3), np.uint8)
    landscape[:, :40] = (220, 20, 20)  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    path = tmp_path / "portrait.heic"
    path.write_bytes(heic(landscape, exif=exif.tobytes()))
    image = np.asarray(load_image(path).image)
    assert image.shape[:2] == (80, 40)  # portrait
    assert image[:40, :, 0].mean() > 150 and image[40:, :, 0].mean() < 100  # red half on top


def test_without_the_plugin_a_heic_photo_names_the_extra(tmp_path, monkeypatch):
    path = tmp_path / "IMG_0002.heic"
    path.write_bytes(heic(ASTRONAUT[:64, :64]))
    monkeypatch.setattr(heif, "enable", lambda: False)
    with pytest.raises(InputError) as err:
        load_image(path)
    message = str(err.value)
    assert message.startswith(f"{path} is a HEIC/HEIF photo") and "pip install 'vlmcli[heif]'" in message
    assert "\n" not in message


def test_caption_dir_captions_heic_photos_beside_jpegs(tmp_path, monkeypatch):
    photos = tmp_path / "camera roll"
    photos.mkdir()
    (photos / "IMG_0003.HEIC").write_bytes(heic(ASTRONAUT))
    Image.fromarray(ASTRONAUT).save(photos / "IMG_0004.JPG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setattr(_runtime, "load_engine", FakeEngine)
    monkeypatch.setattr(_runtime, "check_model", lambda config, **_: None)  # no model on disk, no hub lookup
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["caption-dir", str(photos), "-o", str(out), "--format", "jsonl", "-q"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for f in sorted(out.glob("*.jsonl")) for line in f.read_text().splitlines()]
    assert sorted((r["path"].rsplit("/", 1)[1], r["status"]) for r in rows) == [("IMG_0003.HEIC", "ok"), ("IMG_0004.JPG", "ok")]


def test_header_probe_and_report_thumbnail_read_heic(tmp_path):
    """caption-dir plans batches from header sizes and `vlm report` shows thumbnails: both
    open images with Pillow directly, so both register the plugin for a HEIF file."""
    from vlmcli.captions.probe import header_size
    from vlmcli.report.thumbs import thumbnail_uri

    photo = heic(ASTRONAUT[:200, :300])
    assert header_size(photo) == (300, 200)
    path = tmp_path / "IMG_0005.HEIC"
    path.write_bytes(photo)
    uri = thumbnail_uri(str(path), size=64)
    assert uri is not None and uri.startswith("data:image/jpeg;base64,")


def test_a_fresh_process_probes_a_heic_header(tmp_path):
    """No earlier decode has registered the plugin in a new process: the probe does it."""
    import subprocess
    import sys

    path = tmp_path / "IMG_0006.HEIC"
    path.write_bytes(heic(ASTRONAUT[:100, :160]))
    code = f"from vlmcli.captions.probe import header_size; print(header_size(open({str(path)!r}, 'rb').read()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "(160, 100)", out.stderr


needs_avif = pytest.mark.skipif(not __import__("PIL.features").features.check("avif"), reason="this Pillow has no AVIF")


@needs_avif
def test_an_avif_image_decodes_without_any_plugin(tmp_path):
    """AVIF shares HEIF's container but Pillow reads it itself: the HEIF path stays out of it."""
    path = tmp_path / "web.avif"
    Image.fromarray(ASTRONAUT).save(path, format="AVIF", quality=90)
    assert not is_heif(path.read_bytes()[:64])
    image = load_image(path).image
    assert image.mode == "RGB" and image.size == (512, 512)
    assert np.abs(np.asarray(image, dtype=np.int16) - ASTRONAUT).mean() < 6


@needs_avif
def test_a_pillow_without_avif_names_the_upgrade(tmp_path, monkeypatch):
    from vlmcli.media import images

    path = tmp_path / "web.avif"
    Image.fromarray(ASTRONAUT[:64, :64]).save(path, format="AVIF")
    monkeypatch.setattr(images, "_available_formats", lambda: ["JPEG", "PNG"])  # as a Pillow built without libavif
    with pytest.raises(InputError, match=r"web\.avif is an AVIF image, which this Pillow cannot read: pip install -U pillow"):
        load_image(path)
