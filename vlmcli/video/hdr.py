"""HDR video (PQ or HLG, BT.2020) turned into the SDR picture a vision model was trained on. Pure.

Phones record HDR by default (an iPhone's HLG, Android's HDR10 PQ), YouTube serves PQ. Decoded
to 8-bit RGB as if it were SDR, such a frame is dark and washed out (a PQ clip of a photo:
mean error 37 of 255 against the photo; its SDR rendition: about 2). `to_sdr` does what an
SDR display of the clip does, in the way BT.2408 maps HDR to SDR:

1. the transfer function is undone: PQ's EOTF gives nits (reference white at 203 nits
   maps to 1.0); HLG's inverse OETF gives scene light (its reference white, 75% signal, to 1.0);
2. BT.2020 primaries go to BT.709 (the 3x3 matrix of BT.2087);
3. light above reference white (sky, specular highlights: PQ runs to 10,000 nits) is
   rolled off smoothly towards 1.0 on its luminance, hue kept; below `KNEE` nothing changes;
4. the sRGB curve encodes it to 8 bits, as pictures (and SDR video read as RGB) are.

    pixels = to_sdr(rgb48 / 65535.0, Transfer.PQ)     # (H, W, 3) float BT.2020 signal -> uint8 sRGB
"""

from __future__ import annotations

import enum

import numpy as np

REFERENCE_WHITE_NITS = 203.0
"""BT.2408: HDR reference (graphics) white, where SDR's 100% white goes."""
HLG_REFERENCE_SCENE = 0.26496256
"""HLG scene light whose signal is 75% (BT.2408's HLG reference white)."""
KNEE = 0.8
"""Relative luminance from which highlights are rolled off (below it the picture is exact)."""

_BT2020_TO_BT709 = np.array(
    [[1.6605, -0.5876, -0.0728], [-0.1246, 1.1329, -0.0083], [-0.0182, -0.1006, 1.1187]]
)  # BT.2087, linear light
_LUMA_709 = np.array([0.2126, 0.7152, 0.0722])

# ITU-R BT.2100 (SMPTE ST 2084) PQ constants
_M1, _M2 = 2610 / 16384, 2523 / 4096 * 128
_C1, _C2, _C3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
# ITU-R BT.2100 HLG constants
_A, _B, _C = 0.17883277, 0.28466892, 0.55991073


class Transfer(str, enum.Enum):
    PQ = "pq"
    HLG = "hlg"


_TRC_CODES = {16: Transfer.PQ, 18: Transfer.HLG}
"""ffmpeg's AVColorTransferCharacteristic: 16 SMPTE ST 2084 (PQ), 18 ARIB STD-B67 (HLG)."""


def transfer_of(color_trc: int | None) -> Transfer | None:
    """The HDR transfer a stream's `color_trc` code names; None for SDR (or unknown)."""
    return _TRC_CODES.get(int(color_trc)) if color_trc is not None else None


def pq_to_nits(signal: np.ndarray) -> np.ndarray:
    """PQ EOTF: non-linear signal in [0, 1] -> display light in nits (cd/m2)."""
    power = np.clip(signal, 0.0, 1.0) ** (1.0 / _M2)
    return 10000.0 * (np.maximum(power - _C1, 0.0) / (_C2 - _C3 * power)) ** (1.0 / _M1)


def hlg_to_scene(signal: np.ndarray) -> np.ndarray:
    """HLG inverse OETF: non-linear signal in [0, 1] -> scene light in [0, 1]."""
    signal = np.clip(signal, 0.0, 1.0)
    return np.where(signal <= 0.5, signal**2 / 3.0, (np.exp((signal - _C) / _A) + _B) / 12.0)


def roll_off(linear: np.ndarray, *, knee: float = KNEE) -> np.ndarray:
    """Compress luminance above `knee` towards 1.0 (never reaching it), scaling each pixel's
    channels alike so its hue stays; pixels below the knee are returned as they are."""
    luma = np.maximum(linear @ _LUMA_709, 1e-12)  # (H, W)
    over = np.maximum(luma - knee, 0.0)
    span = 1.0 - knee
    mapped = np.where(luma > knee, knee + span * over / (over + span), luma)
    return linear * (mapped / luma)[..., None]


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] -> sRGB-coded 8-bit values."""
    linear = np.clip(linear, 0.0, 1.0)
    coded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.round(coded * 255.0).astype(np.uint8)


class Primaries(str, enum.Enum):
    """The RGB primaries of an HDR signal: BT.2020 (video, and most HDR stills), Display P3
    (Apple's and some editors' HDR stills), BT.709."""

    BT2020 = "bt2020"
    P3 = "p3"
    BT709 = "bt709"


_TO_BT709 = {
    Primaries.BT2020: _BT2020_TO_BT709,
    Primaries.P3: np.array([[1.2249, -0.2247, 0.0], [-0.0420, 1.0419, 0.0], [-0.0197, -0.0786, 1.0979]]),  # P3 D65
    Primaries.BT709: np.eye(3),
}


def to_sdr(signal: np.ndarray, transfer: Transfer, *, primaries: Primaries = Primaries.BT2020) -> np.ndarray:
    """(H, W, 3) float non-linear R'G'B' in [0, 1] (BT.2020 primaries unless said) -> (H, W, 3)
    uint8 sRGB (module docstring)."""
    if transfer is Transfer.PQ:
        linear = pq_to_nits(signal) / REFERENCE_WHITE_NITS
    else:
        linear = hlg_to_scene(signal) / HLG_REFERENCE_SCENE
    rec709 = np.maximum(linear @ _TO_BT709[primaries].T, 0.0)  # (H, W, 3) out-of-gamut negatives clipped
    return srgb_encode(roll_off(rec709))
