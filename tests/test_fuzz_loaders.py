"""Bounded property-based fuzzing of the image and video loaders.

Inputs: random bytes, and valid small files (PNG, JPEG, GIF, WebP, BMP, TIFF; an H.264 MP4)
with a few bytes flipped, a chunk cut out or duplicated, or the tail cut off. The property:
the loader returns a well-formed result or raises one of the library's own errors
(`vlmcli.errors.VlmError`); nothing else escapes (no `struct.error`, `IndexError`,
`ZeroDivisionError`, decord's `DECORDError`, ...), and for mutated files nothing is
printed on stderr either (Pillow warnings, libtiff's and decord's native logs).

Bounded for CI: derandomized (the same examples every run), a fixed number of examples,
no deadline; the whole file runs in well under 30 s.
"""

from __future__ import annotations

import functools
import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vlmcli.errors import VlmError
from vlmcli.media import decode_image

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
VIDEO_FUZZ = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
MAX_PIXELS = 2_000_000  # a mutated header may claim any size: keep allocations small


@functools.cache
def seed_images() -> tuple[bytes, ...]:
    from PIL import Image

    rng = np.random.default_rng(0)
    picture = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    out = []
    for fmt, image, kwargs in [
        ("PNG", picture, {}),
        ("PNG", picture.convert("P"), {"transparency": 0}),
        ("JPEG", picture, {"quality": 80}),
        ("JPEG", picture.convert("CMYK"), {}),
        ("GIF", picture, {"save_all": True, "append_images": [picture.rotate(90)]}),
        ("WEBP", picture, {"quality": 80}),
        ("BMP", picture, {}),
        ("TIFF", picture, {"compression": "tiff_deflate"}),
    ]:
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, **kwargs)
        out.append(buffer.getvalue())
    return tuple(out)


@st.composite
def mutated(draw, seeds: tuple[bytes, ...]) -> bytes:
    """A seed file with 1-4 mutations: byte flips, a deleted or duplicated chunk, a cut tail."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "flip", "delete", "duplicate", "truncate", "set"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "set" and data:  # header fields: sizes, counts, lengths
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80]))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
        elif kind == "truncate":
            del data[at:]
    return bytes(data)


def check_image(data: bytes) -> None:
    try:
        image = decode_image(data, "fuzz.bin", max_pixels=MAX_PIXELS)
    except VlmError as err:
        assert str(err) and "\n" not in str(err)
        return
    assert image.mode == "RGB" and image.width * image.height <= MAX_PIXELS
    image.load()


@FUZZ
@given(st.binary(max_size=4096))
def test_image_loader_on_random_bytes(data):
    check_image(data)


@FUZZ
@given(st.sampled_from(seed_images()).flatmap(lambda seed: st.binary(max_size=64).map(lambda tail: seed[:16] + tail)))
def test_image_loader_on_valid_headers_with_random_bodies(data):
    check_image(data)


@FUZZ
@given(mutated(seed_images()))
def test_image_loader_on_mutated_files(capfd, data):
    check_image(data)
    assert capfd.readouterr().err == ""  # nor does anything reach stderr (libtiff, Pillow warnings)


# --- video ------------------------------------------------------------------------------------------


@functools.cache
def seed_video() -> bytes:
    from vlmcli.testing.media.video_clips import ffmpeg_exe

    import subprocess

    folder = Path(tempfile.mkdtemp(prefix="vlmcli-fuzz-"))
    path = folder / "seed.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         "testsrc=size=32x24:rate=10:duration=1", "-pix_fmt", "yuv420p", "-c:v", "libx264",
         "-g", "5", "-movflags", "+faststart", str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    return path.read_bytes()


@pytest.fixture(scope="module")
def video_dir():
    with tempfile.TemporaryDirectory(prefix="vlmcli-fuzz-") as folder:
        yield Path(folder)


def check_video(folder: Path, data: bytes) -> None:
    from vlmcli.video.decode import probe, read_frames

    path = folder / "fuzz.mp4"
    path.write_bytes(data)
    try:
        info = probe(path)
        wanted = sorted({0, info.frame_count // 2, info.frame_count - 1})
        frames = read_frames(path, wanted, max_side=16, info=info)
    except VlmError as err:
        assert str(err) and "\n" not in str(err)
        return
    left_out = sum(read is None for _, read in frames.replaced)  # damaged frames: stand-ins, or left out
    assert frames.pixels.dtype == np.uint8 and frames.pixels.shape[0] + left_out == len(wanted) and frames.indices
    assert max(frames.pixels.shape[1:3]) <= 16


@VIDEO_FUZZ
@given(st.binary(min_size=1, max_size=2048))
def test_video_loader_on_random_bytes(video_dir, data):
    check_video(video_dir, data)


@VIDEO_FUZZ
@given(st.binary(max_size=512).map(lambda tail: b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + tail))
def test_video_loader_on_an_mp4_header_with_random_boxes(video_dir, data):
    check_video(video_dir, data)


@VIDEO_FUZZ
@given(st.builds(lambda: seed_video()).flatmap(lambda seed: mutated((seed,))))
def test_video_loader_on_mutated_mp4(capfd, video_dir, data):
    check_video(video_dir, data)
    assert capfd.readouterr().err == ""  # decord's C++ log stays off stderr
