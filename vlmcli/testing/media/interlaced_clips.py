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
PAN = "crop={w}:{h}:x='t*240':y='t*60'"
"""The window (`SIZE`, or DV's) moves 240 px/s right and 60 px/s down: 4.8 px between the two
fields of a frame."""
CODECS = {
    "h264": ["-c:v", "libx264", "-flags", "+ilme+ildct", "-crf", "14", "-pix_fmt", "yuv420p"],
    "mpeg2": ["-c:v", "mpeg2video", "-flags", "+ilme+ildct", "-q:v", "2", "-f", "mpegts"],
    "dv": ["-c:v", "dvvideo", "-pix_fmt", "yuv420p"],
}
"""h264 in MP4 (AVCHD's codec; decord reads it), MPEG-2 in MPEG-TS (DVB's; PyAV reads it) and
DV (a camcorder tape's capture: 720x576, its field order not stated, bottom field first)."""
DV_SIZE = (720, 576)


def _run(args: list[str], *, picture: Image.Image, size: tuple[int, int] = SIZE) -> bytes:
    """ffmpeg's stdout with `args` after an input of `picture`, enlarged so a `size` window's
    pan stays inside it and looped at 50 fps (a file: ffmpeg loops no piped picture)."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "picture.png"
        picture.convert("RGB").resize((size[0] * 3, size[1] * 9 // 4)).save(source)
        inputs = ["-loop", "1", "-framerate", "50", "-i", str(source)]
        return subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *inputs, *args], check=True, capture_output=True).stdout


def write_interlaced_clip(
    path: Path, *, picture: Image.Image, codec: str = "h264", first: str = "top", seconds: float = 2.0
) -> Path:
    """An interlaced clip of `picture` panned (`PAN`), its `first` field ("top", "bottom") shown first."""
    scan = "tff" if first == "top" else "bff"
    order = ["-x264opts", f"{scan}=1"] if codec == "h264" else []  # MPEG-2 takes the frames' own flag
    size = DV_SIZE if codec == "dv" else SIZE
    pan = PAN.format(w=size[0], h=size[1])
    _run(["-t", str(seconds), "-vf", f"{pan},interlace=scan={scan}", *CODECS[codec], *order, str(path)], picture=picture, size=size)
    return path


def scene(*, picture: Image.Image, seconds: float = 2.0, size: tuple[int, int] = SIZE) -> np.ndarray:
    """uint8 (50 * seconds, H, W, 3): the progressive pictures the clip's fields were taken from."""
    pan = PAN.format(w=size[0], h=size[1])
    raw = _run(["-t", str(seconds), "-vf", pan, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], picture=picture, size=size)
    width, height = size
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)  # (P, H, W, 3)
