"""Pictures as other programs write them, which a stranger's walk found misread: a PNG with
more than 1 MB of metadata refused as damaged, an APNG's still fallback read as its first
frame, 16-bit greyscale whose brightness flipped with one pixel, a -1..1 float map half black."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from vlmcli.media.animation import frame_count
from vlmcli.media.images import load_image, to_rgb
from vlmcli.testing.fakes import real_photo
from vlmcli.video.decode_pillow import AnimationReader


def test_a_png_with_megabytes_of_metadata_is_read(tmp_path):
    """Photoshop's XMP history (compressed iTXt) past Pillow's 1 MB text limit: 'damaged', exit 3."""
    meta = PngImagePlugin.PngInfo()
    xmp = "<x:xmpmeta>" + "".join(f"<rdf:li>xmp.did:{i:032x}</rdf:li>" for i in range(60000)) + "</x:xmpmeta>"
    meta.add_itxt("XML:com.adobe.xmp", xmp, zip=True)
    path = tmp_path / "bigxmp.png"
    Image.new("RGB", (64, 48), (200, 30, 40)).save(path, pnginfo=meta)
    assert len(xmp) > 1024 * 1024  # Pillow's own limit
    picture = load_image(path).image
    assert picture.size == (64, 48) and picture.getpixel((0, 0)) == (200, 30, 40)


def _apng_with_fallback(path, frames):
    frames[0].save(path, save_all=True, append_images=frames[1:], default_image=True, duration=100)
    return path


def test_an_apng_still_fallback_is_not_a_frame(tmp_path):
    """A fallback picture (shown only by viewers that cannot animate) was read as frame 1."""
    photo = real_photo("astronaut").resize((64, 64))
    fallback, *animation = [photo.rotate(angle) for angle in (0, 90, 180)]
    path = _apng_with_fallback(tmp_path / "hidden.png", [fallback, *animation])
    assert frame_count(path.read_bytes()) == 2
    reader = AnimationReader(str(path))
    assert reader.frame_count == 2
    got = reader.read(np.array([0, 1]))  # (2, H, W, 3)
    for shown, frame in zip(got, animation):
        assert np.abs(shown.astype(int) - np.asarray(frame).astype(int)).mean() < 2
    still = np.asarray(load_image(path).image)  # as a picture: the animation's first frame
    assert np.abs(still.astype(int) - np.asarray(animation[0]).astype(int)).mean() < 2
    single = _apng_with_fallback(tmp_path / "one.png", [fallback, animation[0]])
    assert frame_count(single.read_bytes()) == 1  # a fallback and one frame: a still picture


def test_16_bit_greyscale_keeps_its_brightness_whatever_its_brightest_pixel(tmp_path):
    """8-bit values saved as 16-bit: near black, as viewers show them, with or without one 256."""
    camera = np.asarray(real_photo("camera").convert("L")).astype(np.uint16)  # (H, W)
    means = []
    for peak in (255, 256):
        data = camera.copy()
        data[0, 0] = peak
        path = tmp_path / f"p{peak}.png"
        Image.fromarray(data).save(path)
        means.append(np.asarray(load_image(path).image).astype(float).mean())
    assert abs(means[0] - means[1]) < 0.5  # was 129.1 against 0.0


def test_a_float_map_with_negative_values_spans_the_grey_range():
    values = np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8)
    grey = np.asarray(to_rgb(Image.fromarray(values, mode="F")))[..., 0]
    assert grey.min() == 0 and grey.max() == 255 and 120 <= grey[4, 0] <= 135


@pytest.mark.parametrize("mode", ["I;16", "I"])
def test_a_16_bit_ramp_maps_onto_8_bits(mode):
    ramp = np.tile(np.linspace(0, 65535, 256), (4, 1)).astype(np.uint16 if mode == "I;16" else np.int32)
    grey = np.asarray(to_rgb(Image.fromarray(ramp)))[..., 0]
    assert grey[0, 0] == 0 and grey[0, -1] == 255


def test_a_multi_page_tiff_says_only_its_first_page_is_read(tmp_path, monkeypatch):
    """A fax or a scanner's TIFF: the later pages were dropped without a word."""
    from typer.testing import CliRunner

    from vlmcli.cli import app
    from vlmcli.testing.fakes import install_fake_engine, isolate_env

    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)
    scan = tmp_path / "fax.tif"
    pages = [real_photo(name).resize((64, 48)) for name in ("astronaut", "chelsea", "coffee")]
    pages[0].save(scan, save_all=True, append_images=pages[1:])
    result = CliRunner().invoke(app, ["ask", str(scan), "What is this?"])
    assert result.exit_code == 0, result.output
    said = "A TIFF of 3 pages; only its first page was read (convert it to PDF to read them all: each page of a PDF is read)."
    assert result.stderr.splitlines() == [f"note: {scan}: a{said[1:]}"]
    single = tmp_path / "one.tif"
    pages[0].save(single)
    assert CliRunner().invoke(app, ["ask", str(single), "What is this?"]).stderr == ""
    out = tmp_path / "out"  # caption-dir: the row's notes, and a warning line
    result = CliRunner().invoke(app, ["caption-dir", str(scan), str(single), "-o", str(out), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    import json

    notes = {json.loads(line)["path"]: json.loads(line)["notes"] for f in out.glob("*.jsonl") for line in f.read_text().splitlines()}
    assert notes == {str(scan): said, str(single): None} and f"warning: {scan}: {said}" in result.stderr


def test_a_suggested_conversion_never_writes_over_its_input(tmp_path):
    from vlmcli.errors import InputError

    drawing = tmp_path / "drawing.png"  # an SVG saved under a picture's name
    drawing.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>')
    with pytest.raises(InputError, match=r"-o drawing-converted\.png\.$"):
        load_image(drawing)


def test_a_picture_just_over_the_limit_says_by_how_much():
    """10001x10000 read "(100 MP), above the limit of 100 MP"."""
    from vlmcli.media.images import _too_large

    assert "10001x10000 (100.01 MP), above the limit of 100 MP" in _too_large("x.png", (10001, 10000), 100_000_000)
    assert "(200 MP)" in _too_large("x.png", (20000, 10000), 100_000_000)


def test_a_picture_past_pillows_own_guard_says_its_size(tmp_path, monkeypatch):
    """A 30000x30000 PNG said only "is too large" (Pillow's guard fires before its size is known)."""
    from vlmcli.errors import InputError

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 89_478_485)  # Pillow's own default (another test may lift it)

    huge = tmp_path / "huge.png"
    Image.new("1", (30000, 30000)).save(huge)
    with pytest.raises(InputError, match=r"huge\.png is 30000x30000 \(900 MP\), above the limit of 100 MP"):
        load_image(huge)
