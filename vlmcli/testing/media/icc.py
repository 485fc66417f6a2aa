"""ICC profiles of RGB spaces other than sRGB, written byte by byte (ICC.1:2001-04, version 2
matrix/TRC display profiles) from the spaces' published chromaticities, so tests can tag a
picture as Adobe RGB or Display P3 the way a camera or a phone does, and know what it means.

    icc = rgb_profile(ADOBE_RGB)                   # bytes for `Image.save(..., icc_profile=icc)`
    expected = to_srgb_reference(pixels, ADOBE_RGB)  # the same conversion, in plain numpy
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

D50 = np.array([0.9642, 1.0, 0.8249])  # the ICC profile connection space's white
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


@dataclass(frozen=True)
class RgbSpace:
    name: str
    primaries: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
    """xy chromaticities of red, green, blue."""
    white: tuple[float, float]
    gamma: float


ADOBE_RGB = RgbSpace("Adobe RGB (1998) compatible", ((0.64, 0.33), (0.21, 0.71), (0.15, 0.06)), (0.3127, 0.3290), 563 / 256)
WIDE_P3 = RgbSpace("P3 D65 gamma 2.2", ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), (0.3127, 0.3290), 2.2)
SRGB = RgbSpace("sRGB", ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06)), (0.3127, 0.3290), 2.4)  # its curve: `_srgb_encode`


def _xyz(xy: tuple[float, float]) -> np.ndarray:
    x, y = xy
    return np.array([x / y, 1.0, (1 - x - y) / y])


def rgb_to_xyz(space: RgbSpace) -> np.ndarray:
    """(3, 3): linear RGB -> XYZ under the space's own white."""
    columns = np.stack([_xyz(p) for p in space.primaries], axis=1)  # (3, 3)
    scale = np.linalg.solve(columns, _xyz(space.white))
    return columns * scale


def _adapt_to_d50(space: RgbSpace) -> np.ndarray:
    source = _BRADFORD @ _xyz(space.white)
    target = _BRADFORD @ D50
    return np.linalg.inv(_BRADFORD) @ np.diag(target / source) @ _BRADFORD


def rgb_profile(space: RgbSpace) -> bytes:
    """A version-2 monitor profile of `space`: primaries adapted to D50 (Bradford), one gamma."""
    matrix = _adapt_to_d50(space) @ rgb_to_xyz(space)  # (3, 3) columns: rXYZ, gXYZ, bXYZ at D50
    tags = [
        (b"desc", _desc(space.name)),
        (b"cprt", b"text" + b"\0" * 4 + b"No copyright, test data\0"),
        (b"wtpt", _xyz_type(D50)),
        (b"rXYZ", _xyz_type(matrix[:, 0])),
        (b"gXYZ", _xyz_type(matrix[:, 1])),
        (b"bXYZ", _xyz_type(matrix[:, 2])),
        *((sig, b"curv" + b"\0" * 4 + struct.pack(">IH", 1, round(space.gamma * 256)) + b"\0\0") for sig in (b"rTRC", b"gTRC", b"bTRC")),
    ]
    return _profile(tags, device_class=b"mntr", space=b"RGB ", pcs=b"XYZ ")


def _profile(tags: list[tuple[bytes, bytes]], *, device_class: bytes, space: bytes, pcs: bytes) -> bytes:
    """A version-2 ICC profile: the 128-byte header, the tag table, the tags (4-byte aligned)."""
    table_size = 4 + 12 * len(tags)
    offset, table, data = 128 + table_size, b"", b""
    for signature, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = 128 + table_size + len(data)
    header = struct.pack(">I4sI4s4s4s12s4s", size, b"lcms", 0x02100000, device_class, space, pcs, b"\0" * 12, b"acsp")
    header += b"\0" * 24 + struct.pack(">I", 0) + _s15(D50) + b"\0" * 4
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + data


def _s15(values: np.ndarray) -> bytes:
    return b"".join(struct.pack(">i", round(float(v) * 65536)) for v in values)


def _xyz_type(values: np.ndarray) -> bytes:
    return b"XYZ " + b"\0" * 4 + _s15(values)


def _desc(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    return b"desc" + b"\0" * 4 + struct.pack(">I", len(ascii_text)) + ascii_text + b"\0" * 8 + b"\0\0\0" + b"\0" * 67


def _srgb_encode(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def to_srgb_reference(pixels: np.ndarray, space: RgbSpace) -> np.ndarray:
    """uint8 (..., 3) values in `space` -> the sRGB values that show the same colours (both
    under D65, so no adaptation; out-of-gamut colours clipped), as float 0..255."""
    linear = (pixels.astype(np.float64) / 255.0) ** space.gamma
    xyz = linear @ rgb_to_xyz(space).T
    srgb_linear = xyz @ np.linalg.inv(rgb_to_xyz(SRGB)).T
    return _srgb_encode(srgb_linear) * 255.0


# --- CMYK printer profiles --------------------------------------------------------------------

INKS_LAB = {
    "paper": (100.0, 0.0, 0.0),
    "cyan": (55.0, -37.0, -50.0),  # SWOP-like process inks on coated paper (CIELAB, D50)
    "magenta": (48.0, 74.0, -3.0),
    "yellow": (89.0, -5.0, 93.0),
    "black": (16.0, 0.0, 0.0),
}
"""The colours a test CMYK profile gives paper, each ink alone at 100%, and (below) their mixes."""


def _corner_lab(c: int, m: int, y: int, k: int) -> tuple[float, float, float]:
    """Lab of a grid corner (each ink 0 or 1): inks multiply as filters do, on paper white."""
    if k:
        return INKS_LAB["black"]
    inks = [INKS_LAB[name] for name, on in (("cyan", c), ("magenta", m), ("yellow", y)) if on]
    if not inks:
        return INKS_LAB["paper"]
    if len(inks) == 1:
        return inks[0]
    light = float(np.prod([lab[0] / 100.0 for lab in inks])) * 100.0  # overprints: darker, duller
    return light, float(np.mean([lab[1] for lab in inks])) * 0.8, float(np.mean([lab[2] for lab in inks])) * 0.8


def cmyk_lab_bytes(c: int, m: int, y: int, k: int) -> tuple[int, int, int]:
    """The lut8 PCS bytes the test profile stores for a corner: L 0..100 -> 0..255, a/b + 128."""
    light, a, b = _corner_lab(c, m, y, k)
    return round(light / 100.0 * 255), round(a + 128), round(b + 128)


def cmyk_profile(name: str = "Test CMYK (SWOP-like inks)") -> bytes:
    """A version-2 output (printer) profile for CMYK: an A2B0 lut8 with a 2-point grid, so a
    pixel whose inks are each 0 or 255 means exactly `_corner_lab` of them. Its paper is the
    PCS white (D50), so the relative and absolute intents agree."""
    grid = b"".join(
        bytes(cmyk_lab_bytes(c, m, y, k)) for c in (0, 1) for m in (0, 1) for y in (0, 1) for k in (0, 1)
    )  # first input channel varies slowest, as ICC orders a CLUT
    identity = bytes(range(256))
    lut = b"mft1" + b"\0" * 4 + bytes([4, 3, 2, 0]) + _s15(np.eye(3).reshape(-1)) + identity * 4 + grid + identity * 3
    tags = [
        (b"desc", _desc(name)),
        (b"cprt", b"text" + b"\0" * 4 + b"No copyright, test data\0"),
        (b"wtpt", _xyz_type(D50)),
        (b"A2B0", lut),
    ]
    return _profile(tags, device_class=b"prtr", space=b"CMYK", pcs=b"Lab ")


def _lab_to_xyz(lab: np.ndarray) -> np.ndarray:
    """(..., 3) CIELAB -> XYZ, both under D50."""
    fy = (lab[..., 0] + 16.0) / 116.0
    fx, fz = fy + lab[..., 1] / 500.0, fy - lab[..., 2] / 200.0
    delta = 6.0 / 29.0
    f = np.stack([fx, fy, fz], axis=-1)  # (..., 3)
    return np.where(f > delta, f**3, 3 * delta**2 * (f - 4.0 / 29.0)) * D50


def _xyz_to_srgb(xyz_d50: np.ndarray) -> np.ndarray:
    """(..., 3) XYZ under D50 -> sRGB float 0..255 (Bradford to D65, clipped)."""
    to_d65 = np.linalg.inv(_adapt_to_d50(SRGB))
    srgb_linear = xyz_d50 @ to_d65.T @ np.linalg.inv(rgb_to_xyz(SRGB)).T
    return _srgb_encode(srgb_linear) * 255.0


def lab_to_srgb_reference(lab: np.ndarray) -> np.ndarray:
    """(..., 3) CIELAB under D50 -> sRGB float 0..255, colorimetrically (Bradford to D65, clipped)."""
    return _xyz_to_srgb(_lab_to_xyz(np.asarray(lab, dtype=np.float64)))


def _stored_lab(c: int, m: int, y: int, k: int) -> np.ndarray:
    light, a, b = cmyk_lab_bytes(c, m, y, k)
    return np.array([light / 255.0 * 100.0, a - 128.0, b - 128.0])


def cmyk_to_srgb_reference(inks: tuple[int, int, int, int]) -> np.ndarray:
    """The sRGB (float 0..255) a viewer shows for a pixel of the test CMYK profile whose inks
    are each 0 or 255: its Lab, with the press's darkest black scaled to sRGB black (black
    point compensation in XYZ, as LittleCMS applies to a v2 profile's perceptual intent)."""
    corner = tuple(int(v) // 255 for v in inks)
    xyz = _lab_to_xyz(_stored_lab(*corner))
    black = _lab_to_xyz(_stored_lab(0, 0, 0, 1))
    return _xyz_to_srgb(D50 * (xyz - black) / (D50 - black))
