"""The pixel limit's refusal gives the sides and how to raise the limit, whichever guard fires:
a 20000x20000 PNG said only "is 400 MP" (Pillow's own guard fires in `open`, its message has
the pixel count alone), where a 12000x12000 one said "is 12000x12000 (144 MP)"."""

from __future__ import annotations

import struct
import zlib

import pytest
from PIL import Image

from vlmcli.errors import InputError
from vlmcli.media.images import decode_image

RAISE = "raise the limit: VLM_MAX_IMAGE_PIXELS or max_image_pixels in the config file (0 disables the check)."


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims `width x height`: a decompression bomb's header, without the bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def gif_header(width: int, height: int) -> bytes:
    """A GIF that claims `width x height` (its screen and its one frame)."""
    screen = b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00"
    frame = b"\x2c" + struct.pack("<HHHH", 0, 0, width, height) + b"\x00" + b"\x02\x02\x44\x01\x00"
    return screen + frame + b"\x3b"


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (png_header(20_000, 20_000), "20000x20000 (400 MP)"),  # past Pillow's own guard: it fires first
        (png_header(12_000, 12_000), "12000x12000 (144 MP)"),  # ours fires first
        (gif_header(30_000, 30_000), "30000x30000 (900 MP)"),
    ],
    ids=["png-past-pillows-guard", "png-past-ours", "gif-past-pillows-guard"],
)
def test_a_picture_over_the_limit_says_its_sides_and_how_to_raise_it(monkeypatch, data, said):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 89_478_485)  # Pillow's own default (another test may lift it)
    with pytest.raises(InputError) as refused:
        decode_image(data, "big.png")
    assert str(refused.value) == (
        f"big.png is {said}, above the limit of 100 MP (decompression bomb guard); shrink it, or {RAISE}"
    )


def test_a_lower_limit_past_pillows_guard_says_the_sides_too(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 89_478_485)
    with pytest.raises(InputError, match=r"^big\.png is 40000x10000 \(400 MP\), above the limit of 1 MP "):
        decode_image(png_header(40_000, 10_000), "big.png", max_pixels=1_000_000)
