"""Interlaced test clips with a known scene: a photo panned at 50 pictures per second, woven
into 25 interlaced frames per second, as a broadcast camera or a camcorder records it.

ffmpeg's `interlace` filter weaves pictures 2k and 2k+1 into frame k (the first-shown field
from picture 2k), and the encoder codes fields (`+ilme+ildct`) with the field order flagged.
`scene` returns the progressive pictures themselves, so a test knows what each field shows:
frame k's first field is picture 2k.

    clip = write_interlaced_clip(tmp / "pan.ts", picture=photo, codec="mpeg2", first="top")
    truth = scene(picture=photo)                # (50 * seconds, H, W, 3): frame k shows truth[2k]
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from vlmcli.testing.media.video_clips import ffmpeg_exe

SIZE = (320, 240)
"""(width, height) of the clips: the window panned across the picture."""
PAN = "crop=320:240:x='t*240':y='t*60'"
"""The window moves 240 px/s right and 60 px/s down: 4.8 px between the two fields of a frame."""
CODECS = {
    "h264": ["-c:v", "libx264", "-flags", "+ilme+ildct", "-crf", "14", "-pix_fmt", "yuv420p"],
    "mpeg2": ["-c:v", "mpeg2video", "-flags", "+ilme+ildct", "-q:v", "2", "-f", "mpegts"],
}
"""h264 in MP4 (AVCHD's codec; decord reads it) and MPEG-2 in MPEG-TS (DVB's; PyAV reads it)."""


def _run(args: list[str], *, picture: Image.Image) -> bytes:
    """ffmpeg's stdout with `args` after an input of `picture`, enlarged so the pan stays
    inside it and looped at 50 fps (a file: ffmpeg loops no piped picture)."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "picture.png"
        picture.convert("RGB").resize((960, 540)).save(source)
        inputs = ["-loop", "1", "-framerate", "50", "-i", str(source)]
        return subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *inputs, *args], check=True, capture_output=True).stdout


def write_interlaced_clip(
    path: Path, *, picture: Image.Image, codec: str = "h264", first: str = "top", seconds: float = 2.0
) -> Path:
    """An interlaced clip of `picture` panned (`PAN`), its `first` field ("top", "bottom") shown first."""
    scan = "tff" if first == "top" else "bff"
    order = ["-x264opts", f"{scan}=1"] if codec == "h264" else []  # MPEG-2 takes the frames' own flag
    _run(["-t", str(seconds), "-vf", f"{PAN},interlace=scan={scan}", *CODECS[codec], *order, str(path)], picture=picture)
    return path


def scene(*, picture: Image.Image, seconds: float = 2.0) -> np.ndarray:
    """uint8 (50 * seconds, H, W, 3): the progressive pictures the clip's fields were taken from."""
    raw = _run(["-t", str(seconds), "-vf", PAN, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], picture=picture)
    width, height = SIZE
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)  # (P, H, W, 3)
