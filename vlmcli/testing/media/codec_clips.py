"""Tiny clips in every common codec and container, written with imageio-ffmpeg's ffmpeg.

Each clip is 60 frames of 64x48 at 25 fps (2.4 s) in which frame i shows i in binary as 8
vertical bars (`vlmcli.testing.media.video_clips.render_indexed`), so a decoded frame says which frame it
is. GOPs are 10 frames (B-frames where the codec has them), so sparse reads really seek.

`CASES` lists each codec/container pair with the decoder `vlmcli.video.backends` must pick
for it; `build(case, folder)` writes one, or returns None when the local ffmpeg has no
encoder for it (the test then skips, naming the encoder).
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path

from vlmcli.testing.media.video_clips import ffmpeg_exe, render_indexed

FRAMES, FPS, SIZE = 60, 25, (64, 48)
AV1_ENCODERS = ("libsvtav1", "libaom-av1", "librav1e")


@dataclass(frozen=True)
class CodecCase:
    """One clip to write: `encoder` into `ext`, with `args`, and the decoder that must read it."""

    name: str
    encoder: str
    ext: str
    args: tuple[str, ...]
    decoder: str
    audio: tuple[str, ...] = ()
    """Audio encoder arguments (a 440 Hz tone) or () for a video-only clip."""
    streamed: bool = False
    """Written to a pipe: no duration, no index (like a browser's MediaRecorder WebM)."""
    vfr: bool = False
    """Variable frame rate: frames 0-29 every 40 ms, frames 30-59 every 100 ms."""

    def id(self) -> str:
        return self.name


_H264 = ("-pix_fmt", "yuv420p", "-g", "10", "-bf", "2", "-sc_threshold", "0", "-crf", "12")
_HEVC = ("-pix_fmt", "yuv420p", "-x265-params", "keyint=10:min-keyint=10:log-level=error", "-crf", "12")
_VPX = ("-g", "10", "-b:v", "1M")
_AV1 = ("-g", "10", "-pix_fmt", "yuv420p", "-crf", "20")
_MPEG = ("-g", "10", "-q:v", "2")
_MJPEG = ("-q:v", "2", "-pix_fmt", "yuvj420p")

CASES: tuple[CodecCase, ...] = (
    CodecCase("h264-mp4", "libx264", "mp4", _H264, "decord"),
    CodecCase("h264-aac-mp4", "libx264", "mp4", _H264, "decord", audio=("-c:a", "aac")),
    CodecCase("h264-mkv", "libx264", "mkv", _H264, "decord"),
    CodecCase("h264-mov", "libx264", "mov", _H264, "decord"),
    CodecCase("h264-avi", "libx264", "avi", _H264, "pyav"),
    CodecCase("h264-ts", "libx264", "ts", _H264, "pyav", audio=("-c:a", "aac")),
    CodecCase("h264-vfr-mp4", "libx264", "mp4", _H264, "decord", vfr=True),
    CodecCase("hevc-mp4", "libx265", "mp4", (*_HEVC, "-tag:v", "hvc1"), "pyav"),
    CodecCase("hevc-aac-mkv", "libx265", "mkv", _HEVC, "pyav", audio=("-c:a", "aac")),
    CodecCase("vp8-webm", "libvpx", "webm", _VPX, "decord"),
    CodecCase("vp8-vorbis-webm", "libvpx", "webm", _VPX, "decord", audio=("-c:a", "libvorbis")),
    CodecCase("vp9-webm", "libvpx-vp9", "webm", _VPX, "decord"),
    CodecCase("vp9-opus-webm", "libvpx-vp9", "webm", _VPX, "decord", audio=("-c:a", "libopus")),
    CodecCase("vp9-mkv", "libvpx-vp9", "mkv", _VPX, "decord"),
    CodecCase("vp9-streamed-webm", "libvpx-vp9", "webm", _VPX, "pyav", audio=("-c:a", "libopus"), streamed=True),
    CodecCase("av1-mp4", "av1", "mp4", _AV1, "pyav"),
    CodecCase("av1-opus-webm", "av1", "webm", _AV1, "pyav", audio=("-c:a", "libopus")),
    CodecCase("av1-mkv", "av1", "mkv", _AV1, "pyav"),
    CodecCase("av1-vfr-webm", "av1", "webm", _AV1, "pyav", vfr=True),
    CodecCase("mpeg1-mpg", "mpeg1video", "mpg", _MPEG, "pyav"),
    CodecCase("mpeg2-mp2-mpg", "mpeg2video", "mpg", (*_MPEG, "-bf", "2"), "pyav", audio=("-c:a", "mp2")),
    CodecCase("mpeg2-ts", "mpeg2video", "ts", (*_MPEG, "-bf", "2"), "pyav"),
    CodecCase("mjpeg-avi", "mjpeg", "avi", _MJPEG, "pyav"),
    CodecCase("mjpeg-mov", "mjpeg", "mov", _MJPEG, "decord"),
)

_VFR_FILTER = ("-vf", "settb=1/1000,setpts='if(lt(N,30),N*40,1200+(N-30)*100)'",
               "-fps_mode", "passthrough", "-enc_time_base", "1/1000")


def frame_times(case: CodecCase) -> list[float]:
    """Presentation time in seconds of each frame of `case`'s clip."""
    if case.vfr:
        return [i * 0.04 if i < 30 else 1.2 + (i - 30) * 0.1 for i in range(FRAMES)]
    return [i / FPS for i in range(FRAMES)]


@functools.cache
def encoders() -> frozenset[str]:
    """Names of the video and audio encoders the local ffmpeg has."""
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True, text=True, check=True)
    names = set()
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) > 1 and len(parts[0]) == 6 and parts[0][0] in "VA":
            names.add(parts[1])
    return frozenset(names)


def missing_encoder(case: CodecCase) -> str | None:
    """The first encoder `case` needs that the local ffmpeg lacks, or None."""
    video = av1_encoder() if case.encoder == "av1" else case.encoder
    if video is None:
        return "an AV1 encoder (" + ", ".join(AV1_ENCODERS) + ")"
    needed = [video] + ([case.audio[1]] if case.audio else [])
    return next((name for name in needed if name not in encoders()), None)


def av1_encoder() -> str | None:
    return next((name for name in AV1_ENCODERS if name in encoders()), None)


def build(case: CodecCase, folder: Path) -> Path | None:
    """Write `case`'s clip into `folder`; None if the local ffmpeg cannot encode it."""
    if missing_encoder(case) is not None:
        return None
    encoder = av1_encoder() if case.encoder == "av1" else case.encoder
    path = folder / f"{case.name}.{case.ext}"
    width, height = SIZE
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(FPS), "-i", "-",
    ]
    if case.audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={FRAMES / FPS}"]
    cmd += [*(_VFR_FILTER if case.vfr else ()), "-c:v", encoder, *case.args, *case.audio, "-threads", "1"]
    if encoder == "libsvtav1":
        cmd += ["-svtav1-params", "lp=1"]
    if case.audio:
        cmd += ["-shortest"]
    frames = render_indexed(FRAMES, width=width, height=height).tobytes()
    if case.streamed:  # to a pipe: the muxer cannot go back to write duration and cues
        fmt = {"webm": "webm", "mkv": "matroska"}[case.ext]
        done = subprocess.run([*cmd, "-f", fmt, "pipe:1"], input=frames, capture_output=True, check=True, timeout=120)
        path.write_bytes(done.stdout)
    else:
        subprocess.run([*cmd, str(path)], input=frames, capture_output=True, check=True, timeout=120)
    return path


def audio_only(folder: Path, *, cover: bool = False) -> Path:
    """An AAC .m4a (or, with `cover`, an .mp3 with an attached cover picture) with no video."""
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1"]
    base = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *tone]
    if not cover:
        path = folder / "tone.m4a"
        subprocess.run([*base, "-c:a", "aac", str(path)], check=True, capture_output=True, timeout=60)
        return path
    path = folder / "song.mp3"
    subprocess.run(
        [*base, "-f", "lavfi", "-i", "color=c=red:s=32x32:d=1", "-frames:v", "1", "-map", "0:a", "-map", "1:v",
         "-c:a", "libmp3lame", "-c:v", "mjpeg", "-disposition:v", "attached_pic", str(path)],
        check=True, capture_output=True, timeout=60,
    )
    return path
