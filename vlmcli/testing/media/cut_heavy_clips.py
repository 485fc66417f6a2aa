"""Cut-heavy test videos of real photos, with known hard-cut positions.

Every shot is a moving view (pan plus zoom) of one of scikit-image's sample photos, so the
picture changes inside a shot the way a camera move does, and consecutive shots always show
different photos, so every shot boundary is a hard cut. Grey photos get a colour tint of
their own (a sepia-like wash), as a colour video would show them, unless `tint=False`:
then they stay grey, and the encoder's chroma noise is all the colour they have (the case
that made x264's keyframes look like cuts to a hue-based detector).

`write_shot_video` streams the frames to imageio-ffmpeg's ffmpeg (H.264, default GOP), so
an hour at 160x90 never sits in memory; `bench/bench_keyframes.py` writes 1-, 10- and
60-minute clips with it, and `tests/test_scene_detection_long.py` short ones.
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vlmcli.testing.media.video_clips import ffmpeg_exe

# colour photos, then grey ones (tinted); `cat` is `chelsea`, so it is left out
_COLOUR = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "retina",
           "immunohistochemistry", "colorwheel", "stereo_motorcycle", "logo")
_GREY = ("camera", "brick", "grass", "gravel", "coins", "moon", "page", "text", "cell", "clock")
_TINTS = ((1.0, 0.85, 0.6), (0.6, 0.8, 1.0), (0.75, 1.0, 0.7), (1.0, 0.7, 0.85))


@dataclass(frozen=True)
class ShotVideo:
    """A written clip: where it is, its size and rate, and the first frame of every new shot."""

    path: Path
    frame_count: int
    fps: float
    width: int
    height: int
    cuts: tuple[int, ...]


@functools.cache
def photos(short_side: int, *, tint: bool = True) -> tuple[np.ndarray, ...]:
    """scikit-image's sample photos as uint8 RGB, resized so the short side is `short_side`.

    tint: give each grey photo a colour wash; False keeps them grey (R = G = B).
    """
    import skimage.data
    from PIL import Image

    out = []
    for k, name in enumerate(_COLOUR + _GREY):
        img = getattr(skimage.data, name)()
        img = img[0] if isinstance(img, tuple) else img  # stereo_motorcycle: (left, right, disp)
        img = np.asarray(img)
        if img.ndim == 2:  # grey: tint it (or not)
            wash = np.array(_TINTS[k % len(_TINTS)] if tint else (1.0, 1.0, 1.0), dtype=np.float32)
            img = (img.astype(np.float32)[..., None] * wash).clip(0, 255).astype(np.uint8)
        elif img.shape[2] == 4:  # RGBA logo: on white
            alpha = img[..., 3:].astype(np.float32) / 255.0
            img = (img[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
        scale = short_side / min(img.shape[:2])
        size = (max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale)))
        out.append(np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize(size, Image.BOX)))
    return tuple(out)


def shot_lengths(*, seconds: float, fps: float, min_s: float, max_s: float, seed: int) -> list[int]:
    """Frame counts of shots lasting uniformly min_s..max_s seconds, filling `seconds`."""
    rng = np.random.default_rng(seed)
    total = round(seconds * fps)
    lengths: list[int] = []
    while sum(lengths) < total:
        lengths.append(max(1, round(rng.uniform(min_s, max_s) * fps)))
    lengths[-1] -= sum(lengths) - total
    if lengths[-1] < 1:
        lengths.pop()
    return lengths


def render_shot(photo: np.ndarray, n: int, *, width: int, height: int,
                rng: np.random.Generator) -> Iterator[np.ndarray]:
    """n frames (height, width, 3) uint8 of a view that pans and zooms across `photo`."""
    from PIL import Image

    source = Image.fromarray(photo)
    ph, pw = photo.shape[:2]
    aspect = width / height
    def window() -> tuple[float, float, float]:  # (centre x, centre y, view height)
        vh = rng.uniform(0.5, 0.85) * min(ph, pw / aspect)
        vw = vh * aspect
        return rng.uniform(vw / 2, pw - vw / 2), rng.uniform(vh / 2, ph - vh / 2), vh
    (x0, y0, h0), (x1, y1, h1) = window(), window()
    for f in range(n):
        a = f / max(1, n - 1)
        cx, cy, vh = x0 + a * (x1 - x0), y0 + a * (y1 - y0), h0 + a * (h1 - h0)
        s = vh / height  # photo pixels per output pixel
        out_to_photo = (s, 0.0, cx - s * width / 2, 0.0, s, cy - s * height / 2)  # affine, output -> photo
        yield np.asarray(source.transform((width, height), Image.AFFINE, out_to_photo, resample=Image.BILINEAR))


def write_shot_video(
    path: Path, *, seconds: float, fps: float = 25.0, width: int = 160, height: int = 90,
    min_shot_s: float = 1.0, max_shot_s: float = 8.0, seed: int = 0, gop: int = 250,
    scenecut: bool = True, preset: str = "veryfast", crf: int = 20, tint: bool = True,
) -> ShotVideo:
    """Write `seconds` of shots (min_shot_s..max_shot_s each, random photos) as H.264 mp4.

    gop: most frames between keyframes. scenecut: let x264 put a keyframe at each cut (its
        default; False gives the fixed GOP of streaming encodes, keyframes blind to cuts).
    preset, crf: x264's speed preset and quality. tint: see `photos`.
    """
    lengths = shot_lengths(seconds=seconds, fps=fps, min_s=min_shot_s, max_s=max_shot_s, seed=seed)
    pool = photos(2 * height, tint=tint)
    rng = np.random.default_rng(seed + 1)
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "-",
        "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
        "-g", str(gop), "-threads", "1", *([] if scenecut else ["-sc_threshold", "0"]), str(path),
    ]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    last = -1
    try:
        for n in lengths:
            k = int(rng.integers(len(pool) - 1))
            k = k + 1 if 0 <= last <= k else k  # never the photo of the previous shot
            last = k
            for frame in render_shot(pool[k], n, width=width, height=height, rng=rng):
                proc.stdin.write(frame.tobytes())
    finally:
        proc.stdin.close()
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg failed writing {path}")
    cuts = tuple(int(c) for c in np.cumsum(lengths)[:-1])
    return ShotVideo(path=path, frame_count=int(sum(lengths)), fps=fps, width=width,
                     height=height, cuts=cuts)
