"""Clips with an alpha channel, written with imageio-ffmpeg's ffmpeg, as sticker packs and
motion-graphics exports are: VP9 and VP8 in WebM (Telegram's video stickers), ProRes 4444,
QuickTime Animation and PNG in MOV, FFV1 in Matroska.

Each clip is `FRAMES` frames of 64x64 at 10 fps. The top half is opaque and shows the frame's
number as `render_indexed` bars; rows `TRANSPARENT` are fully transparent over black (what
encoders store there), rows `HALF` are half-transparent blue. Read with transparency on white,
the transparent band is white and the half band (127, 127, 255).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vlmcli.testing.media.video_clips import ffmpeg_exe, render_indexed

FRAMES, FPS, SIDE = 30, 10, 64
TRANSPARENT = slice(32, 48)
HALF = slice(48, 64)
HALF_BLUE = (0, 0, 255, 128)
HALF_ON_WHITE = (127, 127, 255)


@dataclass(frozen=True)
class AlphaCase:
    name: str
    encoder: str
    ext: str
    args: tuple[str, ...]

    def id(self) -> str:
        return self.name


CASES: tuple[AlphaCase, ...] = (
    AlphaCase("vp9-webm", "libvpx-vp9", "webm", ("-pix_fmt", "yuva420p", "-g", "10", "-b:v", "2M")),
    AlphaCase("vp8-webm", "libvpx", "webm", ("-pix_fmt", "yuva420p", "-g", "10", "-b:v", "2M", "-auto-alt-ref", "0")),
    AlphaCase("prores4444-mov", "prores_ks", "mov", ("-profile:v", "4444", "-pix_fmt", "yuva444p10le")),
    AlphaCase("qtrle-mov", "qtrle", "mov", ("-pix_fmt", "argb")),
    AlphaCase("png-mov", "png", "mov", ("-pix_fmt", "rgba")),
    AlphaCase("ffv1-mkv", "ffv1", "mkv", ("-pix_fmt", "yuva420p", "-g", "10")),
)


def alpha_frames(n: int = FRAMES) -> np.ndarray:
    """(n, 64, 64, 4) uint8: indexed bars on top, transparent black, then half-transparent blue."""
    frames = np.zeros((n, SIDE, SIDE, 4), np.uint8)  # (T, H, W, 4) transparent black
    frames[:, :32, :, :3] = render_indexed(n, width=SIDE, height=32)
    frames[:, :32, :, 3] = 255
    frames[:, HALF] = HALF_BLUE
    return frames


def has_encoder(name: str) -> bool:
    listed = subprocess.run([ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    return any(line.split()[1:2] == [name] for line in listed.splitlines() if line.startswith(" "))


def write_alpha_clip(case: AlphaCase, folder: Path) -> Path | None:
    """`case` written under `folder`, or None when this ffmpeg has no such encoder."""
    if not has_encoder(case.encoder):
        return None
    frames = alpha_frames()
    path = folder / f"{case.name}.{case.ext}"
    command = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgba", "-s", f"{SIDE}x{SIDE}", "-r", str(FPS), "-i", "-",
        "-c:v", case.encoder, *case.args, str(path),
    ]
    subprocess.run(command, input=frames.tobytes(), check=True, capture_output=True)
    return path
