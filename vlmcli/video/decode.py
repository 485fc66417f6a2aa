"""Sparse video decoding: open, probe, and fetch only the frames a plan asks for.

A VLM sees 8-64 frames of a video that may have 100,000, so decoding everything and
subsampling afterwards wastes minutes. A reader indexes the container's packets when it
opens a file (no decoding), then seeks to each requested frame and decodes only from the
preceding keyframe, resizing at decode time so a 4K video never materialises as 4K arrays.

Two readers sit behind the `FrameReader` protocol, chosen per file by the default opener
`open_video` (`backends.py`): decord (`decode_decord.py`) where it is frame-exact, PyAV
(`decode_pyav.py`) for everything else ffmpeg decodes (AV1, streamed WebM, MPEG-PS/TS,
AVI, HEVC, ...) and whenever decord fails on a file. `VideoInfo.decoder` says which one
opened the file.

Every failure of the file itself (missing, empty, not a video, no video stream, truncated,
undecodable) becomes a `VideoError` whose message is one sentence naming the file; a cause
is stated only when it was checked, otherwise the decoder's own reason is quoted. Decoder
exceptions never leak out.

The reader is injectable (`opener=`): tests wrap the real ones, and both count the frames
they decoded, so a test can prove we decode exactly what was requested.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from vlmcli.errors import VideoError
from vlmcli.media.names import display_name
from vlmcli.video.backends import open_video
from vlmcli.video.decode_decord import DecordReader
from vlmcli.video.decode_pyav import PyAVReader
from vlmcli.video.metadata import VideoInfo, fit_within, variable_rate_times
from vlmcli.video.reasons import reason_of

__all__ = [
    "DecordReader", "FrameReader", "Frames", "Opener", "PyAVReader", "open_decord", "open_video",
    "probe", "read_frames",
]


class FrameReader(Protocol):
    """A video reader; `DecordReader` and `PyAVReader` are the real ones. Readers may also
    have `decoder` (the backend's name, reported as `VideoInfo.decoder`); `key_indices` is
    optional (the scan only uses it when present)."""

    frame_count: int
    fps: float
    output_size: tuple[int, int]  # (width, height) of the frames `read` returns

    def read(self, indices: np.ndarray) -> np.ndarray:
        """Decode frames `indices` (sorted, unique int64) → uint8 (N, H, W, 3)."""
        ...

    def start_times(self, indices: np.ndarray) -> np.ndarray:
        """Presentation start time in seconds of each frame in `indices` → float64 (N,)."""
        ...

    def end_time(self) -> float:
        """End time in seconds of the last frame."""
        ...

    def key_indices(self) -> np.ndarray:
        """(K,) int64 keyframe indices from the container's index, no decoding (the scan
        snaps to them: seeking to a keyframe decodes just that frame)."""
        ...


Opener = Callable[[str, "tuple[int, int] | None"], FrameReader]
"""(path, (width, height) to decode at, or None for native size) -> reader."""


@dataclass(frozen=True, eq=False)
class Frames:
    """Decoded frames with where they came from.

    pixels: uint8 (N, H, W, 3) RGB.
    indices: frame index in the video of each row, strictly increasing.
    timestamps: presentation start time in seconds of each row, non-decreasing.
    """

    pixels: np.ndarray
    indices: tuple[int, ...]
    timestamps: tuple[float, ...] = field(repr=False)

    def __post_init__(self) -> None:
        p = self.pixels
        if p.dtype != np.uint8 or p.ndim != 4 or p.shape[3] != 3:
            raise ValueError(f"pixels must be uint8 (N, H, W, 3), got {p.dtype} {p.shape}")
        if not (p.shape[0] == len(self.indices) == len(self.timestamps)):
            raise ValueError(
                f"{p.shape[0]} frames but {len(self.indices)} indices and "
                f"{len(self.timestamps)} timestamps"
            )
        if any(b <= a for a, b in zip(self.indices, self.indices[1:])):
            raise ValueError(f"indices must be strictly increasing, got {self.indices}")

    def __len__(self) -> int:
        return len(self.indices)


open_decord: Opener = open_video
"""The former name of the default opener, kept for callers that name it: it now picks
decord or PyAV per file like `open_video`. Pass `DecordReader` itself to force decord."""


def probe(path: str | os.PathLike[str], *, opener: Opener = open_video) -> VideoInfo:
    """Stream properties of the video at `path`, decoding no frames.

    Raises `VideoError` if the file is missing, empty, not a video, or has no video frames.
    """
    name = _check_file(path)
    reader = opener(name, None)
    return _info_from(name, reader)


def read_frames(
    path: str | os.PathLike[str],
    indices: Sequence[int] | np.ndarray,
    *,
    max_side: int | None = None,
    info: VideoInfo | None = None,
    opener: Opener = open_video,
) -> Frames:
    """Decode only frames `indices` of the video at `path`, optionally shrunk at decode time.

    indices: frame numbers in [0, frame_count); duplicates are dropped and the result is in
        increasing order (`Frames.indices` says which row is which frame).
    max_side: longest side of the returned frames in pixels (aspect kept, never enlarged);
        None keeps the native size.
    info: the `probe` result for this file, if the caller has it; saves re-opening the file
        to learn its native size when `max_side` is set.

    Raises `VideoError` for a bad file; `ValueError` for indices outside the video.
    """
    name = _check_file(path)
    wanted = np.unique(np.asarray(indices, dtype=np.int64).reshape(-1))  # (N,) sorted
    if info is None:
        reader = opener(name, None)
        info = _info_from(name, reader)
        size = fit_within(width=info.width, height=info.height, max_side=max_side)
        if size != reader.output_size:
            reader = opener(name, size)
    else:
        size = fit_within(width=info.width, height=info.height, max_side=max_side)
        reader = opener(name, None if size == (info.width, info.height) else size)
    if wanted.size and (wanted[0] < 0 or wanted[-1] >= info.frame_count):
        raise ValueError(
            f"frame indices must be in [0, {info.frame_count}) for {name}, "
            f"got {wanted[0]}..{wanted[-1]}"
        )
    if wanted.size == 0:
        empty = np.zeros((0, size[1], size[0], 3), dtype=np.uint8)  # (0, H, W, 3)
        return Frames(pixels=empty, indices=(), timestamps=())
    try:
        pixels = reader.read(wanted)  # (N, H, W, 3) uint8
        times = reader.start_times(wanted)  # (N,)
    except VideoError:
        raise  # already one sentence naming the file and the cause
    except Exception as exc:  # noqa: BLE001 - decoders raise anything
        decoder = getattr(reader, "decoder", type(reader).__name__)
        raise VideoError(
            f"Could not decode frames {wanted[0]}..{wanted[-1]} of {display_name(name)} "
            f"({decoder}: {reason_of(exc)})."
        ) from exc
    return Frames(
        pixels=np.ascontiguousarray(pixels, dtype=np.uint8),
        indices=tuple(int(i) for i in wanted),
        timestamps=tuple(float(t) for t in times),
    )


def _info_from(name: str, reader: FrameReader) -> VideoInfo:
    count = int(reader.frame_count)
    if count < 1:
        raise VideoError(f"{display_name(name)} contains no video frames.")
    fps = float(reader.fps)
    if not (fps > 0 and np.isfinite(fps)):
        raise VideoError(f"{display_name(name)} has no usable frame rate (decoder reported {fps}).")
    duration = float(reader.end_time())
    if not (duration > 0 and np.isfinite(duration)):
        duration = count / fps
    width, height = reader.output_size
    return VideoInfo(
        path=name, fps=fps, frame_count=count, duration_s=duration, width=width, height=height,
        decoder=str(getattr(reader, "decoder", type(reader).__name__)),
        frame_times=variable_rate_times(reader.start_times(np.arange(count)), fps),  # the index holds them
    )


def _check_file(path: str | os.PathLike[str]) -> str:
    """The path as a string, after the checks decord reports badly (missing, dir, empty)."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise VideoError(f"Video file not found: {display_name(name)}.")
    if not os.path.isfile(name):
        raise VideoError(f"Not a video file (it is a directory or device): {display_name(name)}.")
    if os.path.getsize(name) == 0:
        raise VideoError(f"Video file is empty (0 bytes): {display_name(name)}.")
    return name
