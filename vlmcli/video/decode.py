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

A damaged packet does not end the read: PyAV skips it, as players do, and a frame that will
not decode is replaced by its nearest neighbour that does (`read_around_damage`;
`Frames.replaced` says which, the commands warn). Every failure of the file itself
(missing, empty, not a video, no video stream, truncated, no frame decodable) becomes a `VideoError` whose message is one sentence naming the file; a cause
is stated only when it was checked, otherwise the decoder's own reason is quoted. Decoder
exceptions never leak out.

The reader is injectable (`opener=`): tests wrap the real ones, and both count the frames
they decoded, so a test can prove we decode exactly what was requested.
"""

from __future__ import annotations

import logging
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

log = logging.getLogger("vlmcli.video")

__all__ = [
    "DecordReader", "FrameReader", "Frames", "Opener", "PyAVReader", "damage_note", "open_decord", "open_video",
    "probe", "read_around_damage", "read_frames",
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
    replaced: tuple[tuple[int, int | None], ...] = ()
    """(frame asked for, frame read instead) for each frame that would not decode (a damaged
    packet): the nearest one that does stands in for it; None when none near it could (the
    frame is left out)."""

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
    replaced: tuple[tuple[int, int | None], ...] = ()
    try:
        pixels = reader.read(wanted)  # (N, H, W, 3) uint8
    except Exception as exc:  # noqa: BLE001 - decoders raise anything
        error = exc if isinstance(exc, VideoError) else _decode_error(reader, name, wanted, exc)
        wanted, pixels, replaced = read_around_damage(reader, wanted, frame_count=info.frame_count, error=error)
        log.debug("%s: %s", display_name(name), damage_note(replaced) or "read frame by frame after a decode error")
    return Frames(
        pixels=np.ascontiguousarray(pixels, dtype=np.uint8),
        indices=tuple(int(i) for i in wanted),
        timestamps=tuple(float(t) for t in reader.start_times(wanted)),
        replaced=replaced,
    )


def damage_note(replaced: Sequence[tuple[int, int | None]]) -> str | None:
    """One sentence on the frames that would not decode (`Frames.replaced`); None when all did."""
    if not replaced:
        return None
    parts = [
        f"frame {asked} replaced by frame {read}" if read is not None else f"frame {asked} left out (its neighbours are damaged or already shown)"
        for asked, read in replaced
    ]
    shown = "; ".join(parts[:5]) + (f"; and {len(parts) - 5} more" if len(parts) > 5 else "")
    return f"{len(parts)} frame{'s' if len(parts) != 1 else ''} would not decode (damaged data): {shown}"


def _decode_error(reader: FrameReader, name: str, wanted: np.ndarray, exc: BaseException) -> VideoError:
    decoder = getattr(reader, "decoder", type(reader).__name__)
    return VideoError(
        f"Could not decode frames {wanted[0]}..{wanted[-1]} of {display_name(name)} ({decoder}: {reason_of(exc)})."
    )


def read_around_damage(
    reader: FrameReader, wanted: np.ndarray, *, frame_count: int, error: VideoError, reach: int = 0
) -> tuple[np.ndarray, np.ndarray, tuple[tuple[int, int | None], ...]]:
    """(frames read, their pixels, (asked, read instead) pairs) when reading `wanted` at once
    failed: frame by frame, each that will not decode replaced by the nearest one that does
    (within `reach` frames; 0: two seconds' worth, at least 8) and is not already taken, as
    a player shows the frames around a damaged packet; (asked, None) when none near it does.
    `error` is raised when more than half of `wanted` is left out: a file that damaged is
    reported, not summarised from its scraps."""
    reach = reach or max(8, round(2 * float(getattr(reader, "fps", 0) or 0)))
    taken = {int(i) for i in wanted}
    got: dict[int, np.ndarray] = {}
    replaced: list[tuple[int, int | None]] = []
    for index in (int(i) for i in wanted):
        for offset in (0, *(d for step in range(1, reach + 1) for d in (step, -step))):
            candidate = index + offset
            if not 0 <= candidate < frame_count or candidate in got or (offset and candidate in taken):
                continue
            try:
                got[candidate] = reader.read(np.array([candidate], dtype=np.int64))[0]  # (H, W, 3)
            except Exception:  # noqa: BLE001 - this one is damaged too: try the next nearest
                continue
            if offset:
                replaced.append((index, candidate))
            break
        else:
            replaced.append((index, None))
            if 2 * sum(read is None for _, read in replaced) > len(wanted):
                raise error
    order = np.array(sorted(got), dtype=np.int64)  # (M,) strictly increasing
    return order, np.stack([got[int(i)] for i in order]), tuple(replaced)


def _info_from(name: str, reader: FrameReader) -> VideoInfo:
    count = int(reader.frame_count)
    if count < 1:
        from vlmcli.video.mp4_boxes import is_init_segment

        if is_init_segment(name):
            raise VideoError(
                f"{display_name(name)} is the init segment of a video cut into fragments (HLS, DASH), with no "
                "frames of its own: join it with its segments first, e.g. cat init.mp4 seg*.m4s > video.mp4."
            )
        raise VideoError(f"{display_name(name)} contains no video frames.")
    fps = float(reader.fps)
    if not (fps > 0 and np.isfinite(fps)):
        raise VideoError(f"{display_name(name)} has no usable frame rate (decoder reported {fps}).")
    duration = float(reader.end_time())
    if not (duration > 0 and np.isfinite(duration)):
        duration = count / fps
    width, height = reader.output_size
    decoder = str(getattr(reader, "decoder", type(reader).__name__))
    return VideoInfo(
        path=name, fps=fps, frame_count=count, duration_s=duration, width=width, height=height,
        decoder=decoder,
        frame_times=variable_rate_times(reader.start_times(np.arange(count)), fps),  # the index holds them
        start_s=_file_start(name) if decoder in ("decord", "pyav") else 0.0,
    )


def _file_start(name: str) -> float:
    """Seconds from the file's start to its first picture (`StreamFacts.start_s`, cached per
    file), 0 below `START_MIN_S` or when the header cannot say."""
    from vlmcli.video.stream_facts import inspect_video
    from vlmcli.video.metadata import START_MIN_S

    try:
        start = float(inspect_video(name).start_s)
    except Exception:  # noqa: BLE001 - only the reported times depend on it; reading reports any real fault
        return 0.0
    return start if start >= START_MIN_S and np.isfinite(start) else 0.0


def _check_file(path: str | os.PathLike[str]) -> str:
    """The path as a string, after the checks decord reports badly (missing, dir, empty)."""
    name = os.fspath(path)
    if not os.path.exists(name):
        from vlmcli.inputs.addresses import address_hint
        from vlmcli.media.sources import nearby_hint

        hint = address_hint(name, fetch="fetch it first and pass the file.") or nearby_hint(name)  # a URL; ~ as typed, ...
        raise VideoError(f"Video file not found: {display_name(name)}{hint or '.'}")
    if not os.path.isfile(name):
        raise VideoError(f"Not a video file (it is a directory or device): {display_name(name)}.")
    if os.path.getsize(name) == 0:
        raise VideoError(f"{display_name(name)} is empty (0 bytes).")
    return name
