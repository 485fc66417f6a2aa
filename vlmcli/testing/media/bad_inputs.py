"""A corpus of bad and awkward inputs, built on demand into a folder (nothing is committed).

    cases = build_corpus(tmp_path / "corpus")     # {name: Case}
    cases["truncated_jpeg"].path                  # the file (or folder, FIFO, link) to pass

Every `Case` says what a command must do with it:

- `Expect.FAIL`: a clear one-line error (exit 3, or an error row in `caption-dir`);
- `Expect.OK`:   an awkward but valid image that must be read correctly (CMYK, 16-bit,
  palette with transparency, EXIF-rotated, animated, 1x1, odd file names).

`kind` says which commands the case is for ("image" for ask/describe/caption-dir, "video"
for ask/video-summarize). Everything is small (the "huge" image only *claims* its size in
its header) and builds in well under a second, apart from the videos (ffmpeg, ~1 s).
"""

from __future__ import annotations

import enum
import io
import os
import stat
import struct
import subprocess
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class Expect(str, enum.Enum):
    OK = "ok"
    FAIL = "fail"


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    expect: Expect
    kind: str  # "image" or "video"
    needle: str = ""
    """A phrase the error message must contain (FAIL cases)."""


def _photo(width: int = 96, height: int = 64):
    """A small picture whose top-left quadrant is red and the rest blue-ish (orientation is visible)."""
    from PIL import Image

    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[...] = (30, 60, 200)
    pixels[: height // 2, : width // 2] = (220, 20, 20)
    return Image.fromarray(pixels)


def _bytes(image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def heic_photo() -> bytes:
    """A HEIC photo as an iPhone writes it (HEVC in HEIF), through the pillow-heif plugin."""
    from vlmcli.media.heif import require_heif

    require_heif("the corpus's HEIC photo")
    return _bytes(_photo(), "HEIF", quality=80)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A PNG whose header claims `width` x `height` RGB pixels, with one row of real data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * (width * 3 + 1))
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")


def exif_rotated_jpeg() -> bytes:
    """The `_photo` stored rotated 90 degrees clockwise, with EXIF orientation 8 to undo it.

    Upright, the red quadrant is top-left; stored, it is top-right of a 64x96 picture.
    """
    from PIL import Image

    stored = _photo().transpose(Image.Transpose.ROTATE_270)  # 90 degrees clockwise
    exif = Image.Exif()
    exif[0x0112] = 8  # "rotate 90 CW to view" -> exif_transpose rotates it back
    return _bytes(stored, "JPEG", quality=95, exif=exif.tobytes())


def cmyk_jpeg() -> bytes:
    return _bytes(_photo().convert("CMYK"), "JPEG", quality=95)


def png16() -> bytes:
    from PIL import Image

    ramp = (np.arange(64 * 48, dtype=np.uint32).reshape(48, 64) * 21).astype(np.uint16)  # 0..64491
    return _bytes(Image.fromarray(ramp), "PNG")  # mode I;16


def palette_transparent_png() -> bytes:
    from PIL import Image

    image = Image.new("P", (32, 32), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(1, (0, 0, 16, 32))  # left half red, right half index 0 (transparent)
    return _bytes(image, "PNG", transparency=0)


def animated(fmt: str) -> bytes:
    from PIL import Image

    frames = [Image.new("RGB", (24, 24), colour) for colour in ("red", "lime", "blue")]
    return _bytes(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def no_moov(mp4: bytes) -> bytes:
    """`mp4` with its `moov` box renamed to an unknown type: the index is gone, the frame data
    stays (not `free`: ffmpeg looks for a moov hidden inside a `free` box)."""
    at = mp4.find(b"moov")
    assert at > 0, "no moov box"
    return mp4[:at] + b"zzzz" + mp4[at + 4 :]


def _ffmpeg(*args: str) -> None:
    from vlmcli.testing.media.video_clips import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True, timeout=60)


def _videos(folder: Path) -> dict[str, Path]:
    """Small real videos the video cases are cut from (built once per corpus)."""
    folder.mkdir(parents=True, exist_ok=True)
    good = folder / "good.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1", "-pix_fmt", "yuv420p", "-c:v", "libx264", str(good))
    audio = folder / "audio.mp4"
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", str(audio))
    large = folder / "large.mp4"  # genuinely 4K, 2 black frames: cheap to make and to probe
    _ffmpeg("-f", "lavfi", "-i", "color=black:size=3840x2160:rate=2:duration=1", "-pix_fmt", "yuv420p",
            "-c:v", "libx264", "-preset", "ultrafast", str(large))  # fmt: skip
    empty = folder / "zero_frames.mp4"  # a video stream with no frames in it
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1", "-frames:v", "0", "-c:v", "libx264", str(empty))
    return {"good": good, "audio": audio, "large": large, "empty": empty}


Builder = Callable[[Path], None]


def _write(data: bytes) -> Builder:
    return lambda path: path.write_bytes(data)


def _image_cases() -> list[tuple[str, str, Expect, Builder, str]]:
    """(name, file name, expectation, builder, needle) for the image corpus."""
    jpeg = _bytes(_photo(), "JPEG", quality=90)
    png = _bytes(_photo(), "PNG")
    gif = _bytes(_photo(), "GIF")
    fail, ok = Expect.FAIL, Expect.OK
    return [
        ("zero_byte", "zero.jpg", fail, _write(b""), "empty"),
        ("truncated_jpeg", "cut.jpg", fail, _write(jpeg[: len(jpeg) // 2]), "truncated"),
        ("jpeg_header_only", "head.jpg", fail, _write(jpeg[:20]), "truncated"),
        ("truncated_png", "cut.png", fail, _write(png[: len(png) // 2]), "truncated"),
        ("png_magic_only", "magic.png", fail, _write(png[:8]), "truncated"),
        ("truncated_gif", "cut.gif", fail, _write(gif[: len(gif) // 2]), "truncated"),
        ("text_as_jpeg", "notes.jpg", fail, _write(b"These are my notes, not a photo.\n"), "not an image"),
        ("html_as_jpeg", "page.jpg", fail, _write(b"<!DOCTYPE html><html><body>404</body></html>\n"), "not an image"),
        ("random_bytes", "noise.png", fail, _write(np.random.default_rng(1).bytes(4096)), "not an image"),
        ("directory_named_jpg", "folder.jpg", fail, lambda p: p.mkdir(), "directory"),
        ("decompression_bomb", "bomb.png", fail, _write(bomb_png()), "above the limit"),
        ("svg", "drawing.svg", fail, _write(b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>'), "SVG drawing"),
        ("pdf", "scan.pdf", fail, _write(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"), "is a damaged PDF"),
        ("heic_truncated", "phone.heic", fail, _write(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64), "truncated"),
        ("iphone_heic", "IMG_0001.HEIC", ok, lambda p: p.write_bytes(heic_photo()), ""),
        ("eps_never_run", "print.eps", fail, _write(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 9 9\nshowpage\n"), "not an image"),
        ("symlink_loop", "loop.jpg", fail, lambda p: os.symlink(p.name, p), "symbolic links"),
        ("dangling_symlink", "dangling.jpg", fail, lambda p: os.symlink("nowhere.jpg", p), "No such file"),
        ("unreadable", "secret.jpg", fail, lambda p: (p.write_bytes(jpeg), p.chmod(0)), "permission denied"),
        ("fifo", "pipe.jpg", fail, lambda p: os.mkfifo(p), "not a regular file"),
        ("newline_name_broken", "two\nlines.jpg", fail, _write(jpeg[:300]), "truncated"),
        ("one_by_one", "dot.png", ok, _write(_bytes(_photo(1, 1), "PNG")), ""),
        ("cmyk_jpeg", "cmyk.jpg", ok, _write(cmyk_jpeg()), ""),
        ("png_16bit", "deep.png", ok, _write(png16()), ""),
        ("palette_transparency", "palette.png", ok, _write(palette_transparent_png()), ""),
        ("exif_rotated", "rotated.jpg", ok, _write(exif_rotated_jpeg()), ""),
        ("animated_gif", "anim.gif", ok, _write(animated("GIF")), ""),
        ("animated_webp", "anim.webp", ok, _write(animated("WEBP")), ""),
        ("name_with_spaces", "my holiday photo.jpg", ok, _write(jpeg), ""),
        ("name_with_quotes", "it's \"quoted\".jpg", ok, _write(jpeg), ""),
        ("name_with_newline", "first\nsecond.jpg", ok, _write(jpeg), ""),
    ]


NON_UTF8_NAME = b"caf\xe9-latin1.jpg"


def build_corpus(root: Path) -> dict[str, Case]:
    """Write every case under `root` (images in `root/images`, videos in `root/videos`)."""
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    cases: dict[str, Case] = {}
    for name, filename, expect, build, needle in _image_cases():
        path = images / filename
        build(path)
        cases[name] = Case(name, path, expect, "image", needle)
    raw = os.path.join(os.fsencode(images), NON_UTF8_NAME)
    with open(raw, "wb") as handle:
        handle.write(_bytes(_photo(), "JPEG", quality=90))
    cases["non_utf8_name"] = Case("non_utf8_name", Path(os.fsdecode(raw)), Expect.OK, "image")
    cases.update(video_cases(root / "videos"))
    return cases


def video_cases(folder: Path) -> dict[str, Case]:
    made = _videos(folder / ".src")
    good = made["good"].read_bytes()
    specs = {
        "video_zero_byte": ("zero.mp4", b"", "empty"),
        "video_truncated": ("truncated.mp4", good[: len(good) // 2], ""),
        "video_header_only": ("header.mp4", good[:64], ""),
        "video_no_moov": ("no_moov.mp4", no_moov(good), ""),
        "video_audio_only": ("audio_only.mp4", made["audio"].read_bytes(), "no video stream"),
        "video_zero_frames": ("zero_frames.mp4", made["empty"].read_bytes(), ""),
        "video_text": ("notes.mp4", b"not a video at all\n", ""),
    }
    cases = {}
    for name, (filename, data, needle) in specs.items():
        (folder / filename).write_bytes(data)
        cases[name] = Case(name, folder / filename, Expect.FAIL, "video", needle)
    cases["video_large_resolution"] = Case("video_large_resolution", made["large"], Expect.OK, "video")
    return cases


def permissions_apply() -> bool:
    """False when running as root (or with CAP_DAC_OVERRIDE): chmod 000 does not stop reads."""
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f".vlmcli-perm-{os.getpid()}"
    probe.write_bytes(b"x")
    try:
        probe.chmod(0)
        try:
            probe.read_bytes()
        except PermissionError:
            return True
        return False
    finally:
        probe.chmod(stat.S_IWUSR | stat.S_IRUSR)
        probe.unlink()
