"""Safe image loading: real photos in every awkward mode, and every way a file can be bad."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from vlmcli.testing.fakes import real_photo, save_photo
from vlmcli.errors import InputError
from vlmcli.media.images import decode_image, load_image, to_rgb


def test_jpeg_photo_loads_as_rgb_with_file_hash_key(tmp_path):
    path = save_photo(tmp_path / "astronaut.jpg")
    loaded = load_image(path)
    assert loaded.image.mode == "RGB" and loaded.image.size == (512, 512)
    assert loaded.source == str(path)
    assert loaded.key == hashlib.sha256(path.read_bytes()).hexdigest()


def test_png_photo_pixels_are_unchanged(tmp_path):
    path = save_photo(tmp_path / "cat.png", "chelsea")
    assert np.array_equal(np.asarray(load_image(path).image), np.asarray(real_photo("chelsea")))


def test_exif_orientation_is_applied(tmp_path):
    photo = real_photo("chelsea")  # 451 x 300, landscape
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    path = tmp_path / "rotated.jpg"
    photo.save(path, exif=exif)
    assert load_image(path).image.size == (300, 451)


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    real_photo("coffee").convert("CMYK").save(path, quality=95)
    loaded = load_image(path).image
    original = np.asarray(real_photo("coffee"), dtype=np.int16)
    assert loaded.mode == "RGB"
    assert np.abs(np.asarray(loaded, dtype=np.int16) - original).mean() < 12


def test_palette_with_transparency_is_composited_on_white(tmp_path):
    image = Image.new("P", (8, 8), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(1, (0, 0, 4, 8))
    image.info["transparency"] = 0
    path = tmp_path / "palette.png"
    image.save(path, transparency=0)
    rgb = load_image(path).image
    assert rgb.getpixel((0, 0)) == (255, 0, 0) and rgb.getpixel((7, 7)) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_composited_on_white_not_black(tmp_path, mode):
    image = real_photo("astronaut").convert(mode)
    image.putalpha(Image.new("L", image.size, 0))
    path = tmp_path / "clear.png"
    image.save(path)
    assert (np.asarray(load_image(path).image) == 255).all()


def test_16_bit_greyscale_is_scaled_not_clipped(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (16, 1))
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)
    rgb = np.asarray(load_image(path).image)
    assert rgb[0, 0, 0] == 0 and rgb[0, -1, 0] == 255 and 120 <= rgb[0, 128, 0] <= 135


def test_float_image_is_scaled():
    image = Image.fromarray(np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8), mode="F")
    rgb = np.asarray(to_rgb(image))
    assert rgb.min() == 0 and rgb.max() == 255


def test_greyscale_photo_becomes_rgb(tmp_path):
    path = save_photo(tmp_path / "camera.png", "camera")
    loaded = load_image(path).image
    assert loaded.mode == "RGB" and loaded.getpixel((10, 10))[0] == loaded.getpixel((10, 10))[2]


def test_animated_gif_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    red, green, blue = load_image(path).image.getpixel((8, 8))
    assert red > 200 and blue < 50


def test_stdin_bytes(tmp_path):
    data = save_photo(tmp_path / "a.jpg").read_bytes()
    loaded = load_image("-", stdin=io.BytesIO(data))
    assert loaded.source == "-" and loaded.key == hashlib.sha256(data).hexdigest()


def test_stdin_terminal_is_refused():
    class Tty(io.BytesIO):
        def isatty(self) -> bool:
            return True

    with pytest.raises(InputError, match="stdin is a terminal"):
        load_image("-", stdin=Tty(b""))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a huge size: a decompression bomb's header, without the bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [12_000, 40_000])  # ours fires first / Pillow's fires first
def test_decompression_bomb_is_refused_before_decoding(side):
    with pytest.raises(InputError, match="bomb.png is .* above the limit of 100 MP"):
        decode_image(_png_header_only(side, side), "bomb.png")


def test_pixel_limit_is_configurable(tmp_path):
    path = save_photo(tmp_path / "a.jpg")
    with pytest.raises(InputError, match="512x512"):
        load_image(path, max_pixels=100_000)
    assert load_image(path, max_pixels=0).image.size == (512, 512)


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_file(tmp_path, suffix):
    full = save_photo(tmp_path / f"full{suffix}").read_bytes()
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(full[: len(full) // 3])
    with pytest.raises(InputError) as info:
        load_image(path)
    assert str(path) in str(info.value) and "truncated" in str(info.value)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"just some text, not a JPEG\n", "is not an image"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", r"is a PostScript \(EPS\) drawing, not an image"),  # never Ghostscript
        (b"", "is empty"),
    ],
)
def test_not_an_image(tmp_path, content, needle):
    path = tmp_path / "photo.jpg"
    path.write_bytes(content)
    with pytest.raises(InputError, match=needle):
        load_image(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="No such file"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(InputError, match="is a directory"):
        load_image(tmp_path)
