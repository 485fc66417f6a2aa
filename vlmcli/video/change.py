"""How different two low-resolution frames look: the pure arithmetic behind scans and cuts.

Each thumbnail becomes three channels, hue, chroma and value (`hcv`: HSV's cone, with the
chroma max - min of RGB in place of the saturation chroma / value), and each pair of
thumbnails two numbers, both in [0, 1]:

- pixel delta: mean absolute difference of the three channels, like PySceneDetect's
  ContentDetector. Sensitive to motion as well as to cuts.
- histogram delta: distance between per-channel histograms. Nearly blind to motion (a box
  that moves keeps its colours) but jumps at a cut, so it separates cuts from motion.

Grey pixels have no colour to compare, only the few levels of chroma noise an encoder
leaves, and that noise is redrawn at every keyframe and while the frames after a cut
settle: H.264 turns a grey photo's faint chroma to exactly zero at one frame. Saturation
(chroma / value) blows such noise up in dark pixels and hue turns it into half-circle
swings, so plain HSV saw 0.1-0.3 changes between frames that look the same (RGB
difference < 0.01) and reported cuts there. Hence chroma instead of saturation, and hue
counted only in proportion to chroma (`hue_weight`, full from `HUE_CHROMA`).

`scan.py` applies them to consecutive scanned frames, `refine.py` to the frames it decodes
while bisecting towards a cut. Both keep each frame's channels and histograms
(`Features`) so a frame compared with several others is converted once. No decoding here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HIST_BINS = 16  # per channel; coarse bins make the histogram ignore noise
HUE_CHROMA = 0.1  # chroma (in [0, 1]) from which a pixel's hue counts in full; noise is < 0.05


def rgb_to_hcv(pixels: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., 3) -> float32 (hue, chroma, value) (..., 3), each in [0, 1] (hue wraps at 1).

    chroma = max - min of R, G, B; hue as in HSV (0 where chroma is 0); value = max.
    """
    rgb = pixels.astype(np.float32) / 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(axis=-1)
    c = v - rgb.min(axis=-1)
    safe = np.maximum(c, 1e-12)
    h = np.where(
        v == r, ((g - b) / safe) % 6.0, np.where(v == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0)
    )
    h = np.where(c > 0, h / 6.0, 0.0)
    return np.stack([h, c, v], axis=-1).astype(np.float32)


def hue_weight(chroma: np.ndarray) -> np.ndarray:
    """How much each pixel's hue counts, in [0, 1]: its chroma over `HUE_CHROMA`, capped at 1."""
    return np.minimum(1.0, chroma / HUE_CHROMA)


def histograms(hcv: np.ndarray) -> np.ndarray:
    """(S, h, w, 3) hue/chroma/value in [0, 1] -> (S, 3, HIST_BINS) normalised per-channel histograms.

    Soft binning: each value is split linearly between the two nearest bin centres, so
    noise around a bin edge moves a little mass instead of a whole pixel. Hue bins wrap
    around (an angle); chroma and value clamp at the ends. A pixel puts only its
    `hue_weight` on its hue and spreads the rest evenly over the hue bins, so grey pixels
    leave the hue histogram flat however their hue noise falls.
    """
    s = hcv.shape[0]
    values = hcv.reshape(s, -1, 3).astype(np.float64)  # (S, P, 3)
    rows = np.arange(s)[:, None] * HIST_BINS  # (S, 1) offset of each frame's bins
    size = s * HIST_BINS
    out = np.zeros((s, 3, HIST_BINS), dtype=np.float64)
    weight = hue_weight(values[:, :, 1])  # (S, P)
    for ch in range(3):
        pos = values[:, :, ch] * HIST_BINS - 0.5  # (S, P) in bin-centre units
        lo = np.floor(pos)
        frac = pos - lo
        lo = lo.astype(np.int64)
        if ch == 0:
            lo_bin, hi_bin = lo % HIST_BINS, (lo + 1) % HIST_BINS
        else:
            lo_bin, hi_bin = np.clip(lo, 0, HIST_BINS - 1), np.clip(lo + 1, 0, HIST_BINS - 1)
        w = weight if ch == 0 else 1.0
        counts = np.bincount((lo_bin + rows).ravel(), weights=((1 - frac) * w).ravel(), minlength=size)
        counts += np.bincount((hi_bin + rows).ravel(), weights=(frac * w).ravel(), minlength=size)
        out[:, ch, :] = counts.reshape(s, HIST_BINS)
    out[:, 0, :] += (1.0 - weight).sum(axis=1)[:, None] / HIST_BINS  # grey pixels' hue: flat
    return out / values.shape[1]


@dataclass(frozen=True, eq=False)
class Features:
    """What the deltas need of N frames, computed once per frame (a long scan keeps
    thousands, so they are small: ~7 kB for a 64x36 thumbnail).

    hcv: uint8 (N, h, w, 3), `rgb_to_hcv` scaled to 0..255 (hue wraps at 255).
    hist: float32 (N, 3, HIST_BINS) from `histograms`.
    """

    hcv: np.ndarray
    hist: np.ndarray

    @classmethod
    def of(cls, pixels: np.ndarray) -> Features:
        """Features of uint8 RGB thumbnails (N, h, w, 3)."""
        return cls.of_hcv(rgb_to_hcv(pixels))

    @classmethod
    def of_hcv(cls, hcv: np.ndarray) -> Features:
        """Features of float32 hue/chroma/value pictures (N, h, w, 3) in [0, 1]."""
        return cls(hcv=np.round(hcv * 255.0).astype(np.uint8), hist=histograms(hcv).astype(np.float32))

    def __len__(self) -> int:
        return int(self.hcv.shape[0])

    def take(self, rows: np.ndarray) -> Features:
        """The features of `rows` (an int array), in that order."""
        return Features(hcv=self.hcv[rows], hist=self.hist[rows])

    @staticmethod
    def concat(parts: list[Features]) -> Features:
        return Features(hcv=np.concatenate([p.hcv for p in parts]), hist=np.concatenate([p.hist for p in parts]))


def feature_deltas(a: Features, b: Features) -> tuple[np.ndarray, np.ndarray]:
    """Pixel and histogram deltas, each (N,) float64 in [0, 1], of frames a[n] vs b[n].

    A pixel's hue difference counts by the smaller `hue_weight` of its two frames (a grey
    pixel has no hue to compare; a change to or from grey shows in chroma).
    """
    d = np.abs(b.hcv.astype(np.int16) - a.hcv.astype(np.int16)).astype(np.float32)  # (N, h, w, 3) 0..255
    d[..., 0] = 2 * np.minimum(d[..., 0], 255 - d[..., 0])  # hue is an angle; max 127.5 -> 255
    chroma = np.minimum(a.hcv[..., 1], b.hcv[..., 1]).astype(np.float32) / 255.0  # (N, h, w)
    d[..., 0] *= hue_weight(chroma)
    pixel = d.mean(axis=(1, 2, 3), dtype=np.float64) / 255.0  # (N,)
    hist = 0.5 * np.abs(b.hist - a.hist).sum(axis=2, dtype=np.float64).mean(axis=1)  # (N,)
    return pixel, hist


def hcv_deltas(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel and histogram deltas, each (N,) float64 in [0, 1], of hue/chroma/value pairs a[n]
    vs b[n]: float32 (N, h, w, 3) from `rgb_to_hcv`, same shape."""
    return feature_deltas(Features.of_hcv(a), Features.of_hcv(b))


def frame_deltas(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`hcv_deltas` of uint8 RGB thumbnails a, b (N, h, w, 3)."""
    return hcv_deltas(rgb_to_hcv(a), rgb_to_hcv(b))
