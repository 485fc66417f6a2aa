"""Animated pictures as other programs write them: GIF, animated WebP, APNG and AVIF by ffmpeg (the
encoders every converter and screen recorder wraps), GIFs with uneven delays and
transparency by Pillow (what Python scrapers and meme generators write)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from vlmcli.testing.media.video_clips import ffmpeg_exe

_ENCODERS = {  # suffix -> ffmpeg output options (lossless where the format allows: exact tests)
    ".gif": ["-vf", "split[a][b];[a]palettegen=stats_mode=full[p];[b][p]paletteuse=dither=none", "-loop", "0"],
    ".webp": ["-c:v", "libwebp_anim", "-lossless", "1", "-loop", "0"],
    ".apng": ["-plays", "0", "-f", "apng"],
    ".avif": ["-c:v", "libaom-av1", "-cpu-used", "8", "-crf", "20", "-pix_fmt", "yuv420p", "-f", "avif"],  # a sequence: lossy
}


def ffmpeg_animation(path: Path, frames: np.ndarray, *, fps: float) -> Path:
    """uint8 RGB frames (T, H, W, 3) as an animated picture at `path`, by ffmpeg, the format
    from the suffix (.gif, .webp, .apng, .avif)."""
    t, h, w, _ = frames.shape
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "-",
        *_ENCODERS[path.suffix], str(path),
    ]
    subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(), check=True)
    return path


def pillow_gif(path: Path, frames: list[np.ndarray], *, delays_ms: list[int], disposal: int = 1) -> Path:
    """Frames (H, W, 3 or 4) as a GIF by Pillow, each shown for its own delay (RGBA frames: the
    transparent pixels stay transparent)."""
    from PIL import Image

    pictures = [Image.fromarray(f, "RGBA" if f.shape[2] == 4 else "RGB") for f in frames]
    pictures[0].save(
        path, save_all=True, append_images=pictures[1:], duration=delays_ms, loop=0, disposal=disposal,
        optimize=False,
    )
    return path


def pillow_delays_ms(path: str | Path) -> list[int]:
    """Each frame's delay as Pillow states it after decoding the frame (the slow way
    `video.decode_pillow.webp_delays_ms` is checked and measured against)."""
    from PIL import Image

    with Image.open(path) as image:
        delays = []
        for index in range(image.n_frames):
            image.seek(index)
            image.load()
            delays.append(image.info["duration"])
    return delays
