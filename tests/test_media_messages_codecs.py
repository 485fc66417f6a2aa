"""A picture in a format this Pillow was built without (libavif, libwebp, OpenJPEG) names the
upgrade; a damaged one in a format it reads says damaged. A truncated AVIF was told "this
Pillow cannot read AVIF: pip install -U pillow" by a Pillow that reads AVIF (the ftyp brand
alone decided), and a JPEG 2000 or a WebP on a Pillow without its library was "damaged"."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image, features

from vlmcli.errors import InputError
from vlmcli.media.heif import is_avif, is_heif
from vlmcli.media.images import load_image

PICTURE = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
needs_avif = pytest.mark.skipif(not features.check("avif"), reason="this Pillow has no AVIF")
needs_webp = pytest.mark.skipif(not features.check("webp"), reason="this Pillow has no WebP")
needs_jp2 = pytest.mark.skipif(not features.check("jpg_2000"), reason="this Pillow has no OpenJPEG")
UPGRADE = "which this Pillow cannot read: pip install -U pillow"


def saved(tmp_path, name: str, fmt: str, *, cut: int | None = None):
    path = tmp_path / name
    Image.fromarray(PICTURE).save(path, format=fmt)
    if cut is not None:
        path.write_bytes(path.read_bytes()[:cut])
    return path


def refusal(path) -> str:
    """The refusal of `path`, its folder left out."""
    with pytest.raises(InputError) as refused:
        load_image(path)
    return str(refused.value).replace(f"{path.parent}/", "")


@needs_avif
def test_a_truncated_avif_is_damaged_where_pillow_reads_avif(tmp_path):
    said = refusal(saved(tmp_path, "t.avif", "AVIF", cut=300))
    assert said.startswith("t.avif is damaged or truncated") and "pip install" not in said, said


@needs_avif
@pytest.mark.parametrize("cut", [None, 300])
def test_a_pillow_without_libavif_names_the_upgrade(tmp_path, monkeypatch, cut):
    from PIL import AvifImagePlugin

    path = saved(tmp_path, "web.avif", "AVIF", cut=cut)
    monkeypatch.setattr(AvifImagePlugin, "SUPPORTED", False)  # as a Pillow built without libavif
    monkeypatch.setitem(sys.modules, "PIL._avif", None)
    assert refusal(path) == (
        "web.avif is an AVIF image, which this Pillow cannot read: pip install -U pillow "
        "(recent Pillow wheels read AVIF), or convert it to PNG."
    )


@needs_jp2
def test_a_pillow_without_openjpeg_names_the_upgrade_not_damage(tmp_path, monkeypatch):
    path = saved(tmp_path, "scan.jp2", "JPEG2000")
    assert load_image(path).image.size == (128, 96)
    monkeypatch.delattr(Image.core, "jpeg2k_decoder")  # as a Pillow built without OpenJPEG
    monkeypatch.delattr(Image.core, "jpeg2k_encoder")
    said = refusal(path)
    assert said.startswith(f"scan.jp2 is a JPEG 2000 image, {UPGRADE}") and "damaged" not in said, said


@needs_jp2
def test_a_truncated_jpeg_2000_is_still_damaged(tmp_path):
    said = refusal(saved(tmp_path, "t.jp2", "JPEG2000", cut=200))
    assert said.startswith("t.jp2 is damaged or truncated") and "pip install" not in said, said


@needs_webp
def test_a_pillow_without_libwebp_names_the_upgrade_not_damage(tmp_path, monkeypatch):
    from PIL import WebPImagePlugin

    path = saved(tmp_path, "photo.webp", "WEBP")
    monkeypatch.setattr(WebPImagePlugin, "SUPPORTED", False)  # as a Pillow built without libwebp
    monkeypatch.setitem(sys.modules, "PIL._webp", None)
    said = refusal(path)
    assert said.startswith(f"photo.webp is a WebP image, {UPGRADE}") and "damaged" not in said, said


def test_a_truncated_heic_with_its_plugin_is_damaged(tmp_path):
    pytest.importorskip("pillow_heif")
    from vlmcli.media.heif import enable

    enable()
    path = tmp_path / "IMG_0001.HEIC"
    Image.fromarray(PICTURE).save(path, format="HEIF")
    path.write_bytes(path.read_bytes()[:400])
    said = refusal(path)
    assert said.startswith("IMG_0001.HEIC is damaged or truncated") and "pip install" not in said, said


def test_avif_is_told_by_its_major_or_its_compatible_brand():
    def ftyp(major: bytes, *compatible: bytes) -> bytes:
        body = b"ftyp" + major + b"\0\0\0\0" + b"".join(compatible)
        return (len(body) + 4).to_bytes(4, "big") + body + b"\0" * 32

    assert is_avif(ftyp(b"avif", b"mif1")) and is_avif(ftyp(b"avis"))
    assert is_avif(ftyp(b"mif1", b"miaf", b"avif")) and not is_heif(ftyp(b"mif1", b"miaf", b"avif"))
    assert not is_avif(ftyp(b"heic", b"mif1")) and not is_avif(ftyp(b"isom", b"mp41"))
    assert not is_avif(ftyp(b"mif1", b"heic"))
