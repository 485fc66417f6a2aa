"""HDR stills (AVIF coded PQ or HLG, as Lightroom's and Chrome's HDR exports are) read as their
SDR rendition, as HDR video frames are. Before: Pillow's 8-bit signal was taken as sRGB, dark
and flat (a PQ AVIF of a photo: mean error 37 of 255)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from PIL import Image, features

from vlmcli.media.hdr_still import hdr_coding, to_sdr_picture
from vlmcli.media.images import decode_image
from vlmcli.testing.fakes import real_photo
from vlmcli.testing.media.hdr_clips import write_hdr_still
from vlmcli.testing.media.video_clips import ffmpeg_exe
from vlmcli.video.hdr import Primaries, Transfer


def _nclx(primaries: int, transfer: int, matrix: int = 9) -> bytes:
    body = b"nclx" + struct.pack(">HHHB", primaries, transfer, matrix, 0x80)
    return b"\0" * 40 + struct.pack(">I", 8 + len(body)) + b"colr" + body + b"\0" * 20


def test_the_nclx_box_says_how_the_picture_is_coded():
    assert hdr_coding(_nclx(9, 16)) == (Transfer.PQ, Primaries.BT2020)
    assert hdr_coding(_nclx(9, 18)) == (Transfer.HLG, Primaries.BT2020)
    assert hdr_coding(_nclx(12, 16)) == (Transfer.PQ, Primaries.P3)
    assert hdr_coding(_nclx(1, 13)) is None  # sRGB
    assert hdr_coding(_nclx(22, 16)) is None  # primaries this reader does not know: read as it is
    assert hdr_coding(b"no box here") is None and hdr_coding(_nclx(9, 16)[:52]) is None


def test_the_sdr_rendition_keeps_alpha_and_exif():
    image = Image.new("RGBA", (4, 2), (148, 148, 148, 100))  # PQ 58%: about reference white
    image.info["exif"] = b"Exif\0\0fake"
    sdr = to_sdr_picture(image, Transfer.PQ, Primaries.BT2020)
    assert sdr.mode == "RGBA" and sdr.getpixel((0, 0))[3] == 100 and sdr.info["exif"] == b"Exif\0\0fake"
    assert abs(sdr.getpixel((0, 0))[0] - 255) <= 12  # reference white (203 nits) is SDR white


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    if not features.check("avif"):
        pytest.skip("this Pillow has no AVIF support")
    return np.asarray(real_photo("coffee").resize((128, 96)))  # (96, 128, 3)


@pytest.mark.parametrize("transfer", ["pq", "hlg"])
def test_an_hdr_avif_reads_as_its_sdr_rendition(photo, transfer, tmp_path):
    path = write_hdr_still(tmp_path / f"{transfer}.avif", photo, transfer=transfer)
    data = path.read_bytes()
    assert hdr_coding(data) == (Transfer(transfer), Primaries.BT2020)
    read = np.asarray(decode_image(data, path.name)).astype(float)
    as_sdr = np.asarray(Image.open(path).convert("RGB")).astype(float)  # the signal taken as sRGB
    assert np.abs(read - photo).mean() < 6.5  # coding loss only (10-bit 4:2:0 AV1): PQ 4.9, HLG 4.2
    assert np.abs(as_sdr - photo).mean() > 20.0  # what it was before


def test_an_sdr_avif_is_left_as_it_is(photo, tmp_path):
    import subprocess

    png, avif = tmp_path / "sdr.png", tmp_path / "sdr.avif"
    Image.fromarray(photo).save(png)
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(png), "-c:v", "libaom-av1",
                    "-crf", "8", "-still-picture", "1", "-frames:v", "1", "-pix_fmt", "yuv420p", str(avif)], check=True)
    data = avif.read_bytes()
    assert hdr_coding(data) is None
    assert (np.asarray(decode_image(data, "sdr.avif")) == np.asarray(Image.open(avif).convert("RGB"))).all()


def test_an_hdr_heic_reads_as_its_sdr_rendition(photo, tmp_path):
    """A 10-bit HEIC coded PQ, written by libheif (pillow-heif) with its nclx box."""
    pillow_heif = pytest.importorskip("pillow_heif")
    from vlmcli.testing.media.hdr_clips import hdr_signal

    signal = (hdr_signal(photo, "pq") * 65535).round().astype(np.uint16)  # (H, W, 3)
    heif = pillow_heif.from_bytes(mode="RGB;16", size=(photo.shape[1], photo.shape[0]), data=signal.tobytes())
    heif.info["nclx_profile"] = {"color_primaries": 9, "transfer_characteristics": 16, "matrix_coefficients": 9,
                                 "full_range_flag": 1}
    heif.save(tmp_path / "pq.heic", quality=-1)
    data = (tmp_path / "pq.heic").read_bytes()
    assert hdr_coding(data) == (Transfer.PQ, Primaries.BT2020)
    read = np.asarray(decode_image(data, "pq.heic")).astype(float)
    assert np.abs(read - photo).mean() < 5.0  # 3.6; taken as sRGB: 35.5
