"""Animated pictures (GIF, animated WebP, APNG, AVIF sequences) read as videos, through Pillow.

Reaction GIFs, chat stickers (animated WebP) and APNGs are short videos in all but
container. The ffmpeg that PyAV ships cannot decode animated WebP at all ("Invalid data
found when processing input"), and GIF frames are not independent pictures: each one is
drawn over what the previous frame left (disposal, blending, transparency). Pillow composes
every frame as a browser does; `to_rgb` then lays transparency on white exactly as for a
still picture, so frame one of a GIF read as a video equals the GIF read as an image.

Timing: each frame lasts its own delay. As in every browser, a GIF delay of 10 ms or less
(0 and 1/100 s are common in old encoders) is shown for 100 ms; the same rule is used for
WebP and APNG so that no file claims thousands of frames a second. Unequal delays make
the video variable-rate (`VideoInfo.frame_times`), so frame sampling is by time on screen.

Frames depend on the ones before them, so there are no keyframes to seek to: `read` walks
forward through the file (Pillow's own seeking: on from the current frame, or again from
the first), which is cheap at the sizes animated pictures have. The timeline (frame count
and delays) is read once per file, for WebP from its chunk headers alone (Pillow would
decode every frame to learn the delays).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vlmcli.errors import VideoError
from vlmcli.media.animation import ANIMATED_FORMATS, animation_frames, first_frame, picture_format
from vlmcli.media.images import DEFAULT_MAX_PIXELS, prepare_pillow, to_rgb
from vlmcli.media.names import display_name
from vlmcli.video.file_cache import FileKey, cached_per_file
from vlmcli.video.reasons import reason_of

SHORTEST_DELAY_MS = 10
"""Delays at or below this are shown for `STANDIN_DELAY_MS` (Chrome, Firefox and Safari do)."""
STANDIN_DELAY_MS = 100


def shown_delays_ms(delays: Sequence[float | None]) -> np.ndarray:
    """How long each frame is on screen, in ms, from the delays the file states (None: none
    stated). Pure.

    >>> shown_delays_ms([0, 10, 40, None]).tolist()
    [100.0, 100.0, 40.0, 100.0]
    """
    raw = np.array([STANDIN_DELAY_MS if d is None else float(d) for d in delays], dtype=np.float64)  # (F,)
    return np.where(raw <= SHORTEST_DELAY_MS, float(STANDIN_DELAY_MS), raw)


@dataclass(frozen=True, eq=False)
class Timeline:
    """An animation's frames in time: `starts` (F,) seconds from the start, `end_s` when the
    last frame ends; `width`, `height` the canvas size; `format` Pillow's name for it."""

    format: str
    width: int
    height: int
    starts: np.ndarray
    end_s: float
    first: int = 0
    """The file's frame number of the animation's first frame (1 past an APNG's still fallback)."""

    @classmethod
    def from_delays(
        cls, *, format: str, size: tuple[int, int], delays_ms: Sequence[float | None], first: int = 0
    ) -> "Timeline":
        shown = shown_delays_ms(delays_ms)  # (F,)
        ends = np.cumsum(shown) / 1000.0  # (F,)
        starts = np.concatenate([[0.0], ends[:-1]])  # (F,)
        return cls(format=format, width=size[0], height=size[1], starts=starts, end_s=float(ends[-1]), first=first)

    @property
    def frame_count(self) -> int:
        return len(self.starts)


@functools.lru_cache(maxsize=64)
def _timeline(key: FileKey) -> Timeline:
    path = key[0]
    image = _open(path)
    try:
        _check_size(path, image.size)
        delays = webp_delays_ms(path) if image.format == "WEBP" else None
        offset = first_frame(image)  # an APNG's still fallback is not a frame of the animation
        if delays is None:
            delays = []
            for index in range(offset, offset + animation_frames(image)):
                image.seek(index)
                if "duration" not in image.info:  # Pillow's WebP and AVIF state it only once the frame is decoded
                    image.load()
                delays.append(image.info.get("duration"))
        return Timeline.from_delays(format=str(image.format), size=image.size, delays_ms=delays, first=offset)
    except VideoError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise anything on a damaged file
        raise VideoError(f"{display_name(path)} is a damaged animation ({reason_of(exc)}); re-export it.") from exc
    finally:
        image.close()


def webp_delays_ms(path: str) -> list[int] | None:
    """Each frame's delay in an animated WebP, from its ANMF chunk headers (no frame decoded:
    Pillow would decode every frame to learn them, 9 ms a 720p frame); None when the file is
    not an animated WebP laid out as the format says (Pillow then reads it, or says why not)."""
    delays: list[int] = []
    with open(path, "rb") as handle:
        riff = handle.read(12)
        if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:12] != b"WEBP":
            return None
        while len(header := handle.read(8)) == 8:
            size = int.from_bytes(header[4:8], "little")
            if header[:4] == b"ANMF":
                frame = handle.read(16)  # x, y, width - 1, height - 1, duration: 24-bit little-endian; flags
                if len(frame) < 16:
                    return None
                delays.append(int.from_bytes(frame[12:15], "little"))
                handle.seek(size + (size & 1) - 16, 1)
            else:
                handle.seek(size + (size & 1), 1)  # chunks are padded to an even size
    return delays or None


class AnimationReader:
    """An animated picture behind the `FrameReader` protocol (`video.decode`)."""

    decoder = "pillow"

    def __init__(self, path: str, size: tuple[int, int] | None = None) -> None:
        self._path = path
        self._timeline: Timeline = cached_per_file(_timeline, path)
        self.frame_count = self._timeline.frame_count
        self.fps = self.frame_count / self._timeline.end_s
        self.output_size = size if size is not None else (self._timeline.width, self._timeline.height)
        self.frames_decoded = 0
        self._image: Any = None  # opened on the first read, kept: Pillow seeks on from where it is

    def read(self, indices: np.ndarray) -> np.ndarray:
        from PIL import Image

        width, height = self.output_size
        out = np.empty((len(indices), height, width, 3), dtype=np.uint8)  # (N, H, W, 3)
        if self._image is None:
            self._image = _open(self._path)
        for row, index in enumerate(np.asarray(indices, dtype=np.int64).tolist()):
            self._image.seek(index + self._timeline.first)  # forward from the current frame; back: from the first
            picture = to_rgb(self._image)
            if picture.size != (width, height):
                picture = picture.resize((width, height), Image.Resampling.BICUBIC)
            out[row] = np.asarray(picture)  # (H, W, 3)
        self.frames_decoded += len(indices)
        return out

    def close(self) -> None:
        if self._image is not None:
            self._image.close()
            self._image = None

    def start_times(self, indices: np.ndarray) -> np.ndarray:
        return self._timeline.starts[np.asarray(indices, dtype=np.int64)]  # (N,)

    def end_time(self) -> float:
        return self._timeline.end_s


def _open(path: str) -> Any:
    from PIL import Image

    prepare_pillow(DEFAULT_MAX_PIXELS)
    from PIL import features

    if not features.check("avif") and _head_format(path) == "AVIF":  # by content, as `open_video` routed it
        raise VideoError(f"{display_name(path)} is an AVIF sequence, which this Pillow cannot read: pip install -U pillow.")
    try:
        return Image.open(path, formats=list(ANIMATED_FORMATS))
    except Image.DecompressionBombError as exc:
        raise VideoError(f"{display_name(path)} is too large for one frame ({reason_of(exc)}).") from exc
    except Exception as exc:  # noqa: BLE001 - as above
        raise VideoError(f"{display_name(path)} is a damaged animation ({reason_of(exc)}); re-export it.") from exc


def _check_size(path: str, size: tuple[int, int]) -> None:
    if size[0] * size[1] > DEFAULT_MAX_PIXELS:
        raise VideoError(
            f"{display_name(path)} is {size[0]}x{size[1]} pixels, over the {DEFAULT_MAX_PIXELS // 1_000_000} MP "
            "limit for one frame; shrink it first."
        )


def _head_format(path: str) -> str | None:
    with open(path, "rb") as handle:
        return picture_format(handle.read(16))

