"""How different two low-resolution frames look: the pure arithmetic behind scans and cuts.

Two numbers per pair of thumbnails, both in [0, 1]:

- pixel delta: mean absolute difference of the H, S and V channels, like PySceneDetect's
  ContentDetector. Sensitive to motion as well as to cuts.
- histogram delta: distance between per-channel HSV histograms. Nearly blind to motion (a
  box that moves keeps its colours) but jumps at a cut, so it separates cuts from motion.

`scan.py` applies them to consecutive scanned frames, `refine.py` to the frames it decodes
while bisecting towards a cut. Both keep each frame's HSV picture and histograms
(`Features`) so a frame compared with several others is converted once. No decoding here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HIST_BINS = 16  # per HSV channel; coarse bins make the histogram ignore noise


def rgb_to_hsv(pixels: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., 3) -> float32 HSV (..., 3), every channel in [0, 1] (hue wraps at 1)."""
    rgb = pixels.astype(np.float32) / 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(axis=-1)
    c = v - rgb.min(axis=-1)  # chroma
    s = np.where(v > 0, c / np.maximum(v, 1e-12), 0.0)
    safe = np.maximum(c, 1e-12)
    h = np.where(
        v == r, ((g - b) / safe) % 6.0, np.where(v == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0)
    )
    h = np.where(c > 0, h / 6.0, 0.0)
    return np.stack([h, s, v], axis=-1).astype(np.float32)


def histograms(hsv: np.ndarray) -> np.ndarray:
    """(S, h, w, 3) HSV in [0, 1] -> (S, 3, HIST_BINS) normalised per-channel histograms.

    Soft binning: each value is split linearly between the two nearest bin centres, so
    noise around a bin edge moves a little mass instead of a whole pixel. Hue bins wrap
    around (an angle); saturation and value clamp at the ends.
    """
    s = hsv.shape[0]
    values = hsv.reshape(s, -1, 3).astype(np.float64)  # (S, P, 3)
    rows = np.arange(s)[:, None] * HIST_BINS  # (S, 1) offset of each frame's bins
    out = np.zeros((s, 3, HIST_BINS), dtype=np.float64)
    for ch in range(3):
        pos = values[:, :, ch] * HIST_BINS - 0.5  # (S, P) in bin-centre units
        lo = np.floor(pos)
        frac = pos - lo
        lo = lo.astype(np.int64)
        if ch == 0:
            lo_bin, hi_bin = lo % HIST_BINS, (lo + 1) % HIST_BINS
        else:
            lo_bin, hi_bin = np.clip(lo, 0, HIST_BINS - 1), np.clip(lo + 1, 0, HIST_BINS - 1)
        size = s * HIST_BINS
        counts = np.bincount((lo_bin + rows).ravel(), weights=(1 - frac).ravel(), minlength=size)
        counts += np.bincount((hi_bin + rows).ravel(), weights=frac.ravel(), minlength=size)
        out[:, ch, :] = counts.reshape(s, HIST_BINS)
    return out / values.shape[1]


@dataclass(frozen=True, eq=False)
class Features:
    """What the deltas need of N frames, computed once per frame (a long scan keeps
    thousands, so they are small: ~7 kB for a 64x36 thumbnail).

    hsv: uint8 (N, h, w, 3), `rgb_to_hsv` scaled to 0..255 (hue wraps at 255).
    hist: float32 (N, 3, HIST_BINS) from `histograms`.
    """

    hsv: np.ndarray
    hist: np.ndarray

    @classmethod
    def of(cls, pixels: np.ndarray) -> Features:
        """Features of uint8 RGB thumbnails (N, h, w, 3)."""
        return cls.of_hsv(rgb_to_hsv(pixels))

    @classmethod
    def of_hsv(cls, hsv: np.ndarray) -> Features:
        """Features of float32 HSV pictures (N, h, w, 3) in [0, 1]."""
        return cls(hsv=np.round(hsv * 255.0).astype(np.uint8), hist=histograms(hsv).astype(np.float32))

    def __len__(self) -> int:
        return int(self.hsv.shape[0])

    def take(self, rows: np.ndarray) -> Features:
        """The features of `rows` (an int array), in that order."""
        return Features(hsv=self.hsv[rows], hist=self.hist[rows])

    @staticmethod
    def concat(parts: list[Features]) -> Features:
        return Features(hsv=np.concatenate([p.hsv for p in parts]), hist=np.concatenate([p.hist for p in parts]))


def feature_deltas(a: Features, b: Features) -> tuple[np.ndarray, np.ndarray]:
    """Pixel and histogram deltas, each (N,) float64 in [0, 1], of frames a[n] vs b[n]."""
    d = np.abs(b.hsv.astype(np.int16) - a.hsv.astype(np.int16))  # (N, h, w, 3) in 0..255
    d[..., 0] = 2 * np.minimum(d[..., 0], 255 - d[..., 0])  # hue is an angle; max 127.5 -> 255
    pixel = d.mean(axis=(1, 2, 3), dtype=np.float64) / 255.0  # (N,)
    hist = 0.5 * np.abs(b.hist - a.hist).sum(axis=2, dtype=np.float64).mean(axis=1)  # (N,)
    return pixel, hist


def hsv_deltas(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel and histogram deltas, each (N,) float64 in [0, 1], of HSV pairs a[n] vs b[n].

    a, b: float32 (N, h, w, 3) HSV from `rgb_to_hsv`, same shape.
    """
    return feature_deltas(Features.of_hsv(a), Features.of_hsv(b))


def frame_deltas(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`hsv_deltas` of uint8 RGB thumbnails a, b (N, h, w, 3)."""
    return hsv_deltas(rgb_to_hsv(a), rgb_to_hsv(b))
