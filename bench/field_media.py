"""Media for `bench/field_run.py`, written by other programs than vlmcli.

Photos are scikit-image's sample photos saved by Pillow (PNG and JPEG), plus a truncated
PNG and a file whose name is not UTF-8. Clips are encoded by ffmpeg (imageio-ffmpeg's
binary) from frames that pan across real photos, one photo per shot, so every cut is a
real change of content at a known frame; codecs and containers as users have them
(H.264 in MP4 with audio, VP9 in WebM, AV1 and HEVC in Matroska, MPEG-2 in MPEG-PS).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

PHOTOS = ("astronaut", "coffee", "camera", "rocket", "immunohistochemistry", "coins", "chelsea", "hubble_deep_field", "retina", "colorwheel", "brick", "page")
NON_UTF8_NAME = b"caf\xe9-latin1.png"  # a Latin-1 file name, as old cameras and zip files leave them


@dataclass
class Media:
    """Paths of everything generated (all under `root`)."""

    root: Path
    mix: Path  # folder: photos, one truncated PNG, one video, a non-UTF-8 name
    good: list[Path]  # two readable photos in `mix`
    broken: Path  # truncated PNG in `mix`
    non_utf8: bytes  # full path (bytes) of the non-UTF-8-named photo in `mix`
    pair: Path  # folder with chelsea.png and chelsea.jpg (same stem)
    clips: dict[str, Path] = field(default_factory=dict)  # codec label -> short 3-scene clip
    cuts_clip: Path | None = None  # 12 s, 4 shots, H.264 + audio
    long_clip: Path | None = None  # cut-heavy, `long_minutes` long
    long_cuts: list[int] = field(default_factory=list)  # first frame of each new shot in long_clip
    fps: int = 25


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def photo(name: str) -> Image.Image:
    import skimage.data

    array = getattr(skimage.data, name)()
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return Image.fromarray(array[..., :3].astype(np.uint8))


def shot_frames(source: Image.Image, *, count: int, size: tuple[int, int], seed: int) -> np.ndarray:
    """(count, H, W, 3) frames panning and zooming slowly over `source` (motion, no cut)."""
    rng = np.random.default_rng(seed)
    w, h = source.size
    crop_w, crop_h = int(w * rng.uniform(0.55, 0.8)), int(h * rng.uniform(0.55, 0.8))
    x0, y0 = rng.uniform(0, w - crop_w), rng.uniform(0, h - crop_h)
    x1, y1 = rng.uniform(0, w - crop_w), rng.uniform(0, h - crop_h)
    frames = np.empty((count, size[1], size[0], 3), dtype=np.uint8)  # (T, H, W, 3)
    for i, a in enumerate(np.linspace(0.0, 1.0, count)):
        x, y = x0 + a * (x1 - x0), y0 + a * (y1 - y0)
        frames[i] = np.asarray(source.resize(size, Image.BILINEAR, box=(x, y, x + crop_w, y + crop_h)))
    return frames


def encode(frames_iter, out: Path, *, size: tuple[int, int], fps: int, codec: list[str], audio: bool = False) -> Path:
    """Pipe raw RGB frames into ffmpeg; `codec` is the output options (e.g. ['-c:v', 'libx264'])."""
    cmd = [ffmpeg(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{size[0]}x{size[1]}", "-r", str(fps), "-i", "-"]
    if audio:
        cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000", "-shortest", "-c:a", "aac"]
    proc = subprocess.Popen([*cmd, *codec, str(out)], stdin=subprocess.PIPE)
    for chunk in frames_iter:
        proc.stdin.write(np.ascontiguousarray(chunk).tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg could not write {out}")
    return out


def shots(lengths_s: list[float], *, fps: int, size: tuple[int, int], seed: int = 0):
    """Yield the frames of consecutive shots (one photo each, photos cycling)."""
    sources = [photo(name) for name in PHOTOS]
    for i, seconds in enumerate(lengths_s):
        yield shot_frames(sources[i % len(sources)], count=max(1, round(seconds * fps)), size=size, seed=seed + i)


def cut_frames(lengths_s: list[float], fps: int) -> list[int]:
    starts = np.cumsum([max(1, round(s * fps)) for s in lengths_s])
    return [int(s) for s in starts[:-1]]


CODECS: dict[str, tuple[str, list[str]]] = {
    "h264-mp4": ("mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    "vp9-webm": ("webm", ["-c:v", "libvpx-vp9", "-b:v", "200k", "-deadline", "realtime", "-cpu-used", "8"]),
    "av1-mkv": ("mkv", ["-c:v", "libaom-av1", "-cpu-used", "8", "-b:v", "200k", "-row-mt", "1"]),
    "hevc-mkv": ("mkv", ["-c:v", "libx265", "-x265-params", "log-level=error", "-pix_fmt", "yuv420p"]),
    "mpeg2-mpg": ("mpg", ["-c:v", "mpeg2video", "-f", "mpeg"]),
}


def make_media(root: Path, *, long_minutes: float) -> Media:
    root.mkdir(parents=True, exist_ok=True)
    mix, pair = root / "mix", root / "pair"
    mix.mkdir(exist_ok=True)
    pair.mkdir(exist_ok=True)
    good = [mix / "astronaut.png", mix / "coffee.jpg"]
    photo("astronaut").save(good[0])
    photo("coffee").save(good[1], quality=90)
    data = (mix / "astronaut.png").read_bytes()
    broken = mix / "broken.png"
    broken.write_bytes(data[: len(data) // 3])
    non_utf8 = os.fsencode(mix) + b"/" + NON_UTF8_NAME
    photo("rocket").save(os.fsdecode(non_utf8), format="PNG")
    photo("chelsea").save(pair / "chelsea.png")
    photo("chelsea").save(pair / "chelsea.jpg", quality=90)

    media = Media(root=root, mix=mix, good=good, broken=broken, non_utf8=non_utf8, pair=pair)
    small, fps = (160, 96), media.fps
    for label, (ext, codec) in CODECS.items():
        out = root / f"clip-{label}.{ext}"
        media.clips[label] = encode(shots([1.2, 1.2, 1.2], fps=fps, size=small, seed=3), out,
                                    size=small, fps=fps, codec=codec, audio=label == "h264-mp4")
    shutil.copyfile(media.clips["h264-mp4"], mix / "clip.mp4")
    media.cuts_clip = encode(shots([3.0, 3.0, 3.0, 3.0], fps=fps, size=small, seed=7), root / "cuts.mp4",
                             size=small, fps=fps, codec=CODECS["h264-mp4"][1], audio=True)
    rng = np.random.default_rng(11)
    lengths: list[float] = []
    while sum(lengths) < long_minutes * 60:
        lengths.append(float(rng.uniform(1.5, 6.0)))
    media.long_cuts = cut_frames(lengths, fps)
    media.long_clip = encode(shots(lengths, fps=fps, size=(128, 72), seed=100), root / "long.mp4",
                             size=(128, 72), fps=fps, codec=["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
    return media

