"""Where every frame of a video stream is, from its demuxed packets alone (no decoding).

The PyAV reader (`decode_pyav.py`) reads the packet headers of the video stream once
(timestamps and keyframe flags; as cheap as decord's own index) and keeps this pure summary.
It answers the three questions sparse decoding asks:

- which frame is frame `i`, and when is it shown (`times`, from the real timestamps, so
  variable-frame-rate video maps index <-> time correctly);
- which keyframe to seek to so that decoding forward reaches frame `i` correctly
  (`seek_position`);
- which frame a decoded picture is (`frame_of`), so a read is checked by timestamp, never
  assumed from the seek.

Two ways to number frames, chosen from the packets (`build_index`):

- `PTS`: frames in presentation-timestamp order; a decoded picture is identified by its
  PTS. Right for every container that stores presentation times (MP4, MOV, MKV, WebM,
  MPEG-PS/TS), including B-frames, open GOPs and variable frame rates.
- `COUNT`: frames in decode order of their packets, numbered by counting decoded pictures
  from the keyframe decoding started at. For containers that store no presentation times
  (AVI: its "PTS" are decode times, so B-frame pictures would be mislabelled, or packets
  without any timestamp). An AVI's decode times are frame slots of its constant rate, and a
  frame the recorder dropped is an empty chunk the demuxer skips, leaving a gap: the k-th
  shown frame gets the k-th slot's time (a capture that dropped frames is not shifted);
  without timestamps (and in a raw elementary stream, whose timestamps the demuxer makes
  up at 25 fps), times are index / fps.

Open GOPs under COUNT numbering: decoding from a keyframe that is not the first drops its
leading pictures (shown before it, decoded after it: they need the GOP before), so counting
from it would be off by their number (an ffmpeg `mpeg4 -bf 2` AVI, x264's `open-gop`: every
frame read after a seek was two or three frames late). A stream that reorders pictures is
therefore read from the keyframe before (`PyAVReader`), and its count anchored where the
first picture of a packet at or after the wanted keyframe comes out: every packet before a
keyframe is shown before every packet from it on, so that picture is the keyframe's first
frame. A picture's packet is known by the PTS it carries (`picture_stamps`).

Hidden packets: an MP4/MOV trimmed without re-encoding (`ffmpeg -ss ... -c copy`, QuickTime's
and phones' trim) keeps the GOP the cut falls in and an edit list that hides the pictures
before the cut; the demuxer flags their packets "discard". They are no frames (players never
show them) but still decoded: the shown pictures after the cut need their keyframe. So a
packet may decode to no frame (`frame_at` -1), and there are more packets (N) than frames (F).
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

@dataclass(frozen=True)
class Joins:
    """Where the parts of a joined timeline start and how far each was moved.

    starts: for each part after the first, the ordinal (0-based, among the stream's demuxed
        non-empty packets in file order) of its first packet; increasing.
    offsets: for each of those parts, what is added to its packets' timestamps (and to every
        packet after it, up to the next part), in the stream's time base.
    """

    starts: tuple[int, ...]
    offsets: tuple[int, ...]

    @property
    def count(self) -> int:
        """The number of jumps joined."""
        return len(self.starts)

    def offset_at(self, ordinal: int) -> int:
        """What is added to the timestamps of the packet with this ordinal."""
        part = bisect.bisect_right(self.starts, ordinal)
        return self.offsets[part - 1] if part else 0


class Numbering(str, enum.Enum):
    PTS = "pts"
    COUNT = "count"


class PacketInfo(NamedTuple):
    """One demuxed video packet, in decode (file) order; timestamps in the stream's time base."""

    pts: int | None
    dts: int | None
    keyframe: bool
    duration: int
    hidden: bool = False
    """Decoded but never shown (flagged discard: before an edit list's start)."""


# Containers whose packet PTS are not presentation times (AVI stores decode order only).
DECODE_ORDER_FORMATS = frozenset({"avi"})
# Raw elementary streams (a CCTV recorder's `.h264`, `.265`; MPEG `.m1v`/`.m2v`, `.m4v` ES):
# no timestamps at all, the demuxer invents them at 25 fps; frames are counted, and timed by
# the stream's own frame rate (its SPS/VUI, `decode_pyav`).
RAW_STREAM_FORMATS = frozenset({"h264", "hevc", "vvc", "mpegvideo", "m4v", "cavsvideo"})


@dataclass(frozen=True, eq=False)
class PacketIndex:
    """The frames of one video stream and how to reach each one.

    numbering: how frames are numbered and recognised after decoding (see module docstring).
    times: (F,) float64 seconds from the first frame's start, frame i's presentation start;
        non-decreasing.
    end_s: seconds from the first frame's start to the last frame's end (> times[-1]).
    position: (F,) int64, decode-order position of frame i's packet.
    stamps: (N,) int64, per packet in decode order, the timestamp that identifies it
        (PTS under PTS numbering, DTS under COUNT numbering).
    keyframe: (N,) bool, per packet in decode order.
    frame_at: (N,) int64, per packet in decode order, the frame index it decodes to; -1 for
        a hidden packet (N >= F).
    """

    numbering: Numbering
    times: np.ndarray = field(repr=False)
    end_s: float
    position: np.ndarray = field(repr=False)
    stamps: np.ndarray = field(repr=False)
    keyframe: np.ndarray = field(repr=False)
    frame_at: np.ndarray = field(repr=False)
    picture_stamps: np.ndarray | None = field(default=None, repr=False)
    """(N,) int64 per packet in decode order, the PTS its decoded picture carries, under COUNT
    numbering when every packet has a distinct one (an AVI's); None otherwise. It tells which
    packet a picture came from, not where it is shown (`anchor`)."""
    joins: Joins | None = None
    """Where the timestamps jumped and were joined (`timeline_joins.py`): every timestamp here
    is on the joined timeline, and the file is read without seeking by timestamp. None when
    they run on as stored."""
    torn: int = 0
    """Frames left out at the end of a stream cut mid-file: shown after a hole where the
    pictures before them were cut off (`torn_tail.py`)."""
    _by_stamp: dict[int, int] = field(init=False, repr=False)
    _by_picture: dict[int, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n, frames = len(self.stamps), len(self.times)
        if len(self.position) != frames or frames > n:
            raise ValueError("times and position must have one entry per frame, at most one per packet")
        if len(self.keyframe) != n or len(self.frame_at) != n:
            raise ValueError("stamps, keyframe and frame_at must have one entry per packet")
        object.__setattr__(self, "_by_stamp", {int(s): p for p, s in enumerate(self.stamps.tolist())})
        pictures = self.picture_stamps.tolist() if self.picture_stamps is not None else []
        object.__setattr__(self, "_by_picture", {int(s): p for p, s in enumerate(pictures)})

    @property
    def frame_count(self) -> int:
        return int(len(self.times))

    def key_indices(self) -> np.ndarray:
        """(K,) int64 sorted frame indices of shown keyframes (seeking to one decodes from it)."""
        shown = self.frame_at[self.keyframe]  # (K',) with -1 for hidden keyframes
        return np.sort(shown[shown >= 0])

    def seek_position(self, index: int) -> int:
        """Decode position of the keyframe to start decoding at to reach frame `index`.

        The last keyframe that comes before frame `index` in decode order AND is shown no
        later than it: a picture shown before its keyframe (an open-GOP leading picture)
        needs the GOP before, so it starts one keyframe earlier. 0 when there is none.
        """
        pos = int(self.position[index])
        ok = self.keyframe[: pos + 1] & (self.frame_at[: pos + 1] <= index)  # (pos+1,)
        found = np.flatnonzero(ok)
        return int(found[-1]) if found.size else 0

    def earlier_keyframe(self, position: int) -> int | None:
        """Decode position of the keyframe before `position`, or None."""
        found = np.flatnonzero(self.keyframe[:position])
        return int(found[-1]) if found.size else None

    def position_of(self, stamp: int | None) -> int | None:
        """Decode position of the packet identified by `stamp` (PTS or DTS), or None if unknown."""
        return None if stamp is None else self._by_stamp.get(int(stamp))

    def packet_of_picture(self, pts: int | None) -> int | None:
        """Decode position of the packet a decoded picture with timestamp `pts` came from, under
        COUNT numbering with `picture_stamps`; None when unknown."""
        return None if pts is None else self._by_picture.get(int(pts))

    def frame_of(self, pts: int | None) -> int | None:
        """Frame index of a decoded picture with presentation timestamp `pts` (PTS numbering);
        None for a picture that is no frame (unknown, or hidden by an edit list)."""
        position = self.position_of(pts)
        if position is None or self.frame_at[position] < 0:
            return None
        return int(self.frame_at[position])


def build_index(
    packets: Sequence[PacketInfo], *, time_base: float, fps: float | None, container: str, joins: Joins | None = None,
    torn: int = 0,
) -> PacketIndex:
    """The `PacketIndex` of a stream's packets (decode order, empty packets already dropped).

    time_base: seconds per timestamp unit. fps: the container's average frame rate, if known
    (> 0); used for COUNT numbering's times and a last frame without a duration.
    container: the demuxer name (PyAV's `container.format.name`), to spot decode-order formats.
    joins: where `packets`' timestamps were joined (`timeline_joins.join_timeline`), kept on the index.
    torn: frames already left out at a torn end (`torn_tail.drop_torn_tail`), kept on the index.
    """
    if fps is not None and not fps > 0:
        fps = None
    packets = _decodable(packets)
    pts = [p.pts for p in packets]
    numbering = Numbering.PTS
    raw = container in RAW_STREAM_FORMATS
    if raw or container in DECODE_ORDER_FORMATS or any(t is None for t in pts) or len(set(pts)) != len(pts):
        numbering = Numbering.COUNT
        packets = [p for p in packets if not p.hidden]  # nothing to recognise them by: shown ones only
    n = len(packets)
    keyframe = np.fromiter((p.keyframe for p in packets), dtype=bool, count=n)  # (N,)
    if numbering is Numbering.PTS:
        stamps = np.asarray(pts, dtype=np.int64)  # (N,)
        shown = np.flatnonzero(~np.fromiter((p.hidden for p in packets), dtype=bool, count=n))  # (F,)
        position = shown[np.argsort(stamps[shown], kind="stable")].astype(np.int64)  # (F,) frame -> packet
        start = stamps[position] - stamps[position[0]] if position.size else stamps[position]
        times = start.astype(np.float64) * time_base  # (F,)
    else:
        dts = [p.dts if p.dts is not None else p.pts for p in packets]
        slots = container in DECODE_ORDER_FORMATS and None not in dts and len(set(dts)) == n
        if raw or any(d is None for d in dts) or len(set(dts)) != n:
            dts = list(range(n))  # no usable timestamps at all: packets are counted in order
        stamps = np.asarray(dts, dtype=np.int64)
        position = np.arange(n, dtype=np.int64)
        rate = fps if fps is not None else 1.0 / time_base
        times = np.arange(n, dtype=np.float64) / rate
        if slots and n:  # an AVI's decode times are frame slots: a dropped frame (an empty chunk) leaves a gap
            times = (np.sort(stamps) - stamps.min()).astype(np.float64) * time_base  # (F,) the k-th shown frame, k-th slot
    frame_at = np.full(n, -1, dtype=np.int64)  # (N,) hidden packets stay -1
    frame_at[position] = np.arange(position.size, dtype=np.int64)
    if position.size == 0:
        end = 0.0
    elif numbering is Numbering.COUNT:
        end = max(n / (fps if fps is not None else 1.0 / time_base), float(times[-1]) + 1.0 / (fps or 1.0 / time_base))
    else:
        end = float(times[-1]) + _last_duration(packets[int(position[-1])], times, time_base, fps)
    pictures = None
    if numbering is Numbering.COUNT and not raw and None not in pts and len(set(pts)) == n:
        pictures = np.asarray(pts, dtype=np.int64)  # (N,)
    return PacketIndex(
        numbering=numbering, times=times, end_s=end, position=position, stamps=stamps,
        keyframe=keyframe, frame_at=frame_at, picture_stamps=pictures, joins=joins, torn=torn,
    )


def _decodable(packets: Sequence[PacketInfo]) -> Sequence[PacketInfo]:
    """Drop what no decoder shows: packets before the first keyframe (a stream cut mid-GOP)
    and, after it, pictures shown before it (leading pictures of an open GOP at the start).
    With no keyframe flag at all, keep everything (the reader then decodes from the start).
    """
    first = next((i for i, p in enumerate(packets) if p.keyframe), None)
    if first is None:
        return packets
    key_pts = packets[first].pts
    return [
        p for p in packets[first:]
        if key_pts is None or p.pts is None or p.pts >= key_pts
    ]


def _last_duration(last: PacketInfo, times: np.ndarray, time_base: float, fps: float | None) -> float:
    """How long the last frame is shown: its packet's duration, else the typical frame gap."""
    if last.duration > 0:
        return last.duration * time_base
    if fps is not None:
        return 1.0 / fps
    gaps = np.diff(times)
    gaps = gaps[gaps > 0]
    return float(np.median(gaps)) if gaps.size else time_base
