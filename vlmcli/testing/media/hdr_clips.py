"""HDR test clips with a known SDR picture: the picture coded the way a phone codes HDR.

`write_hdr_clip` takes an 8-bit sRGB picture, linearises it, moves it to BT.2020 primaries
and codes it with PQ (reference white at 203 nits) or HLG (reference white at 75%), as
BT.2408 places SDR content in HDR, then encodes 10-bit 4:2:0 with the HDR tags
(`color_primaries bt2020`, `color_trc smpte2084 / arib-std-b67`, `colorspace bt2020nc`).
A decoder that renders it back to SDR should return the picture (within coding error);
one that reads the 10-bit signal as SDR gets it dark and washed out.

The colour maths is done here in numpy (the bundled ffmpeg has no zscale filter), written
independently of `vlmcli.video.hdr` from the BT.2100 formulas (OETFs, not their inverses).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from vlmcli.testing.media.video_clips import ffmpeg_exe

_BT709_TO_BT2020 = np.array([[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]])
TAGS = {
    "pq": ["-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc"],
    "hlg": ["-color_primaries", "bt2020", "-color_trc", "arib-std-b67", "-colorspace", "bt2020nc"],
}
CODECS = {
    "libx265": ["-c:v", "libx265", "-x265-params", "log-level=error", "-crf", "8", "-tag:v", "hvc1"],
    "libvpx-vp9": ["-c:v", "libvpx-vp9", "-crf", "8", "-b:v", "0"],
}


def _linear(srgb: np.ndarray) -> np.ndarray:
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def pq_signal(nits: np.ndarray) -> np.ndarray:
    """PQ inverse EOTF (ST 2084): nits -> signal in [0, 1]."""
    m1, m2, c1, c2, c3 = 2610 / 16384, 2523 / 4096 * 128, 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    y = np.clip(nits / 10000.0, 0.0, 1.0) ** m1
    return ((c1 + c2 * y) / (1 + c3 * y)) ** m2


def hlg_signal(scene: np.ndarray) -> np.ndarray:
    """HLG OETF (BT.2100): scene light in [0, 1] -> signal in [0, 1]."""
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    return np.where(scene <= 1 / 12, np.sqrt(3 * scene), a * np.log(np.maximum(12 * scene - b, 1e-12)) + c)


def hdr_signal(picture: np.ndarray, transfer: str) -> np.ndarray:
    """(H, W, 3) uint8 sRGB -> (H, W, 3) float BT.2020 R'G'B' signal of `transfer` ("pq", "hlg")."""
    linear = _linear(picture.astype(np.float64) / 255.0) @ _BT709_TO_BT2020.T
    return pq_signal(linear * 203.0) if transfer == "pq" else hlg_signal(linear * 0.26496256)


def _yuv444p10(signal: np.ndarray) -> bytes:
    kr, kb = 0.2627, 0.0593  # BT.2020 non-constant luminance
    r, g, b = signal[..., 0], signal[..., 1], signal[..., 2]
    y = kr * r + (1 - kr - kb) * g + kb * b
    planes = (64 + 876 * y, 512 + 896 * (b - y) / (2 * (1 - kb)), 512 + 896 * (r - y) / (2 * (1 - kr)))  # limited range
    return b"".join(np.clip(np.round(p), 0, 1023).astype("<u2").tobytes() for p in planes)


def write_hdr_clip(path: Path, picture: np.ndarray, *, transfer: str, codec: str = "libx265", frames: int = 6) -> Path:
    """A still `picture` (H, W, 3 uint8, even sides) as a `frames`-long 10-bit HDR clip at 10 fps."""
    height, width = picture.shape[:2]
    raw = _yuv444p10(hdr_signal(picture, transfer)) * frames
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv444p10le",
        "-s", f"{width}x{height}", "-r", "10", "-color_range", "tv", *TAGS[transfer], "-i", "-",
        *CODECS[codec], "-pix_fmt", "yuv420p10le", *TAGS[transfer], "-g", "3", str(path),
    ]  # fmt: skip
    subprocess.run(cmd, input=raw, check=True, capture_output=True, timeout=120)
    return path


def write_hdr_still(path: Path, picture: np.ndarray, *, transfer: str, crf: int = 8) -> Path:
    """`picture` (H, W, 3 uint8, even sides) as a 10-bit HDR AVIF still (libaom-av1), tagged
    BT.2020 with `transfer` ("pq", "hlg") in its nclx box, as HDR photo exports are."""
    height, width = picture.shape[:2]
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv444p10le",
        "-s", f"{width}x{height}", "-color_range", "tv", *TAGS[transfer], "-i", "-",
        "-c:v", "libaom-av1", "-crf", str(crf), "-still-picture", "1", "-frames:v", "1",
        "-pix_fmt", "yuv420p10le", *TAGS[transfer], str(path),
    ]  # fmt: skip
    subprocess.run(cmd, input=_yuv444p10(hdr_signal(picture, transfer)), check=True, capture_output=True, timeout=120)
    return path
