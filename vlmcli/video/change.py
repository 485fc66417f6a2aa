"""How different two low-resolution frames look: the pure arithmetic behind scans and cuts.

Two numbers per pair of thumbnails, both in [0, 1]:

- pixel delta: mean absolute difference of the H, S and V channels, like PySceneDetect's
  ContentDetector. Sensitive to motion as well as to cuts.
- histogram delta: distance between per-channel HSV histograms. Nearly blind to motion (a
  box that moves keeps its colours) but jumps at a cut, so it separates cuts from motion.

`scan.py` applies them to consecutive scanned frames, `refine.py` to the frames it decodes
while bisecting towards a cut. No decoding here.
"""

from __future__ import annotations

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


def hsv_deltas(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel and histogram deltas, each (N,) float64 in [0, 1], of HSV pairs a[n] vs b[n].

    a, b: float32 (N, h, w, 3) HSV from `rgb_to_hsv`, same shape.
    """
    d = np.abs(b - a)  # (N, h, w, 3)
    d[..., 0] = 2.0 * np.minimum(d[..., 0], 1.0 - d[..., 0])  # hue is an angle; max 0.5 -> 1
    pixel = d.mean(axis=(1, 2, 3)).astype(np.float64)  # (N,)
    ha, hb = histograms(a), histograms(b)  # (N, 3, HIST_BINS) each
    hist = 0.5 * np.abs(hb - ha).sum(axis=2).mean(axis=1)  # (N,)
    return pixel, hist


def frame_deltas(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`hsv_deltas` of uint8 RGB thumbnails a, b (N, h, w, 3)."""
    return hsv_deltas(rgb_to_hsv(a), rgb_to_hsv(b))
