"""Sparse video decoding with decord: open, probe, and fetch only the frames a plan asks for.

A VLM sees 8-64 frames of a video that may have 100,000, so decoding everything and
subsampling afterwards wastes minutes. decord indexes the container's packets when it
opens a file (no decoding), then `get_batch` seeks to each requested frame and decodes
only from the preceding keyframe. Resizing happens inside decord (`width=`/`height=`) so a
4K video never materialises as 4K arrays.

Every failure of the file itself (missing, empty, not a video, audio-only, truncated,
undecodable) becomes a `VideoError` whose message is one sentence naming the file; decord's
own exceptions (`RuntimeError`, `DECORDError`, even `AssertionError`) never leak out.

The reader is injectable (`opener=`): tests wrap the real one, and `DecordReader` counts the
frames it decoded, so a test can prove we decode exactly what was requested.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from vlmcli.errors import BackendUnavailableError, VideoError
from vlmcli.media.names import display_name
from vlmcli.video.metadata import VideoInfo, fit_within
from vlmcli.media.quiet import native_stderr_filtered


class FrameReader(Protocol):
    """The part of a video reader this module uses; `DecordReader` is the real one."""

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


Opener = Callable[[str, "tuple[int, int] | None"], FrameReader]
"""(path, (width, height) to decode at, or None for native size) -> reader."""


class DecordReader:
    """A decord `VideoReader` behind the `FrameReader` protocol, with a decoded-frame counter.

    `frames_decoded` counts frames returned by `read` since opening; it is how a test proves
    that sparse reads decode exactly the requested frames.
    """

    def __init__(self, path: str, size: tuple[int, int] | None = None) -> None:
        decord = _import_decord()
        width, height = size if size is not None else (-1, -1)
        try:
            with native_stderr_filtered():
                self._vr = decord.VideoReader(path, ctx=decord.cpu(0), width=width, height=height)
                self._pts = _all_timestamps(self._vr)  # (F, 2) start/end seconds
        except Exception as exc:  # decord raises RuntimeError, DECORDError or AssertionError
            raise _open_error(path, exc) from exc
        # decord's len() trusts the container's nb_frames, which can over-report; the packet
        # index behind the timestamps is what is really there (decord issue #373: asking for a
        # frame past the real end can hang the decoder). Keep the smaller of the two.
        self.frame_count = min(len(self._vr), len(self._pts))
        self.fps = float(self._vr.get_avg_fps())
        empty = self._vr.get_batch([]).shape  # (0, H, W, 3): the output size, no decoding
        self.output_size = (int(empty[2]), int(empty[1]))
        self.frames_decoded = 0

    def read(self, indices: np.ndarray) -> np.ndarray:
        with native_stderr_filtered():
            pixels = self._vr.get_batch(indices.tolist()).asnumpy()  # (N, H, W, 3) uint8
        self.frames_decoded += int(pixels.shape[0])
        return pixels

    def start_times(self, indices: np.ndarray) -> np.ndarray:
        return self._pts[indices, 0].astype(np.float64)  # (N,)

    def end_time(self) -> float:
        return float(self._pts[self.frame_count - 1, 1])

    def key_indices(self) -> np.ndarray:
        """(K,) int64 keyframe indices from the container's index (no decoding); the scan
        snaps to these because seeking to a keyframe decodes just that frame."""
        keys = np.asarray(self._vr.get_key_indices(), dtype=np.int64)  # (K,)
        return keys[keys < self.frame_count]


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


def open_decord(path: str, size: tuple[int, int] | None) -> FrameReader:
    """The default `Opener`: a `DecordReader` decoding at `size` (or native size)."""
    return DecordReader(path, size)


def probe(path: str | os.PathLike[str], *, opener: Opener = open_decord) -> VideoInfo:
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
    opener: Opener = open_decord,
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
    except Exception as exc:
        raise VideoError(
            f"Could not decode frames {wanted[0]}..{wanted[-1]} of {display_name(name)}: "
            f"the file looks corrupt or truncated ({_first_line(exc)})."
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
        path=name, fps=fps, frame_count=count, duration_s=duration, width=width, height=height
    )


def _all_timestamps(vr) -> np.ndarray:  # noqa: ANN001 - a decord VideoReader
    """(F, 2) start/end seconds of every indexed packet, even when F < len(vr)."""
    try:
        return vr.get_frame_timestamp(range(len(vr)))
    except IndexError:  # fewer packets than the container claims; decord cached them all
        vr.get_frame_timestamp([0])
        return vr._frame_pts  # noqa: SLF001 - the only way to the full packet index


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


def _open_error(name: str, exc: BaseException) -> VideoError:
    text = str(exc)
    if "video stream" in text:
        return VideoError(f"{display_name(name)} has no video stream (is it audio-only?).")
    if "frame count" in text.lower():
        return VideoError(f"{display_name(name)} contains no video frames.")
    return VideoError(
        f"Could not open {display_name(name)} as a video: it is corrupt, truncated, or not a video file "
        f"({_first_line(exc)})."
    )


def _first_line(exc: BaseException) -> str:
    """decord's messages carry a timestamp and a C++ source path; keep the readable tail."""
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return line.rsplit(": ", 1)[-1].strip().rstrip(".") or type(exc).__name__


_decord_ready = False


def _import_decord():  # noqa: ANN202 - returns the decord module
    """Import decord lazily (keeps CLI start-up fast) and silence ffmpeg's own logging."""
    global _decord_ready
    try:
        import decord
    except ImportError as exc:
        raise BackendUnavailableError(
            "Reading video needs decord; install it with `pip install decord`."
        ) from exc
    if not _decord_ready:
        decord.logging.set_level(decord.logging.QUIET)
        _decord_ready = True
    return decord
