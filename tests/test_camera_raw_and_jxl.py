"""Photographers' files: camera raw (NEF, DNG, CR2, ... mostly TIFF inside) and JPEG XL.

A NEF's first TIFF directory is a 160x120 thumbnail, and Pillow opens it: `vlm ask
DSC_0001.NEF` answered about that thumbnail as if it were the photo. A raw file is now read by
its large embedded preview (tests/test_media_camera_raw.py); one that holds none is refused
with the step that makes a picture of it, and raw files found by walking a folder beside
their JPEGs are left to the JPEGs. A JPEG XL file is named as such instead of "not an image"."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.errors import InputError
from vlmcli.media.images import decode_image
from vlmcli.testing.fakes import install_fake_engine, isolate_env

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def thumbnail_tiff() -> bytes:
    """What Pillow sees of a NEF: a TIFF whose first directory is a 160x120 thumbnail."""
    buffer = io.BytesIO()
    Image.new("RGB", (160, 120), "red").save(buffer, "TIFF")
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["DSC_0001.NEF", "IMG_1234.CR2", "photo.dng", "A7.arw"])
def test_raw_files_are_refused_not_read_as_their_thumbnail(name):
    with pytest.raises(InputError, match=r"is a camera raw file \(.+\) holding no preview Pillow can decode: export a JPEG"):
        decode_image(thumbnail_tiff(), name)


def test_jpeg_xl_is_named():
    for head in (b"\xff\x0a\xfa\x01", b"\x00\x00\x00\x0cJXL \r\n\x87\n"):
        with pytest.raises(InputError, match=r"photo.jxl is a JPEG XL image, .* djxl photo.jxl photo.png"):
            decode_image(head + b"\0" * 64, "photo.jxl")


def test_ask_a_raw_file_is_one_line(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)  # the input's error, whatever the network (no hub lookup of the model)
    (tmp_path / "DSC_0001.NEF").write_bytes(thumbnail_tiff())
    result = runner.invoke(app, ["ask", str(tmp_path / "DSC_0001.NEF"), "What is it?"])
    assert result.exit_code == 3 and "Traceback" not in result.output
    assert "camera raw file (Nikon NEF)" in result.stderr.strip().splitlines()[-1]


def test_caption_dir_ignores_raw_files_beside_their_jpegs(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    Image.new("RGB", (64, 48), "red").save(shoot / "DSC_0001.JPG")
    (shoot / "DSC_0001.NEF").write_bytes(thumbnail_tiff())
    result = runner.invoke(app, ["caption-dir", str(shoot), "-o", str(tmp_path / "out"), "-q", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["ok"], summary["error"], summary["ignored"]) == (1, 0, 1)
