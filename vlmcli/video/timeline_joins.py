"""Timestamp jumps in one file (recordings joined with `cat`) made one timeline, as ffmpeg does.

MPEG-TS and MPEG-PS carry no file-wide clock: every recording starts wherever its encoder's
clock stood, so `cat a.ts b.ts` (DVR and broadcast captures, a camera's split `.MTS`/`.VOB`
files joined by hand) holds parts whose timestamps jump backward or forward by seconds or
hours. libavformat even takes a backward jump for a 33-bit clock wrap and adds 2**33 (26.5
hours). Read as they stand, such a file was a 26-hour video, or one with a 95 s empty gap, and
its frames were sampled in a few seconds of it.

ffmpeg's CLI joins them for the formats flagged `AVFMT_TS_DISCONT` (MPEG-TS, MPEG-PS, HLS):
a DTS that jumps more than `-dts_delta_threshold` (10 s) from the packet before, or goes back
by more than 0.1 s, starts a new part, and the part is moved to follow the one before it (its
first packet one frame duration after the last one). `join_timeline` does the same with the
packet headers of the video stream; the packet index (`packet_index.py`) is built from the
joined timestamps, and a 33-bit wrap inside one recording, which libavformat already unwraps,
is no jump.

The same timestamp may then name two frames (two parts that both start at 1.4 s), so the PyAV
reader (`decode_pyav.py`) does not seek such a file by timestamp: it demuxes from the start,
without decoding, to the keyframe it needs, and hands the decoder each packet with its joined
timestamps (`JoinedPackets`), so every decoded picture is known by its place on the joined
timeline. Packets are known by their ordinal among the stream's demuxed packets, the same on
every pass over the file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from vlmcli.video.packet_index import Joins, PacketInfo

JUMP_S = 10.0
"""A DTS this far from where the stream should be is a new part (ffmpeg's -dts_delta_threshold)."""
BACK_S = 0.1
"""A DTS this far before where the stream should be is a new part (ffmpeg's rule for going back)."""


def join_timeline(
    packets: Sequence[PacketInfo], *, time_base: float, fps: float | None,
) -> tuple[list[PacketInfo], Joins | None]:
    """`packets` (the demuxed non-empty packets of one stream, in file order) with every jump
    joined, and where (None, and the packets unchanged, when there is none)."""
    step_default = max(1, round(1.0 / (fps * time_base))) if fps else 1
    jump, back = JUMP_S / time_base, BACK_S / time_base
    starts: list[int] = []
    offsets: list[int] = []
    offset = 0
    expected: int | None = None  # where the next packet's DTS should be, on the joined timeline
    for ordinal, packet in enumerate(packets):
        dts = packet.dts if packet.dts is not None else packet.pts
        if dts is None:
            continue
        if expected is not None:
            delta = dts + offset - expected
            if delta > jump or delta < -back:
                offset -= delta
                starts.append(ordinal)
                offsets.append(offset)
        expected = dts + offset + (packet.duration if packet.duration > 0 else step_default)
    if not starts:
        return list(packets), None
    joins = Joins(starts=tuple(starts), offsets=tuple(offsets))
    return [_moved(packet, joins.offset_at(k)) for k, packet in enumerate(packets)], joins


def _moved(packet: PacketInfo, offset: int) -> PacketInfo:
    if offset == 0:
        return packet
    return packet._replace(
        pts=None if packet.pts is None else packet.pts + offset,
        dts=None if packet.dts is None else packet.dts + offset,
    )


class JoinedPackets:
    """The demuxed packets of a stream with their joined timestamps, in file order.

    packets: PyAV's `container.demux(stream)` from the file's start. Empty packets (the flush
    packet at the end) pass unchanged and are not counted. `position` is the decode position
    (`locate`: a packet, its timestamps joined -> its decode position or None) of the last
    packet yielded that the index lists, -1 before any.
    """

    def __init__(self, packets: Iterator[Any], joins: Joins, *, locate: Callable[[Any], int | None]) -> None:
        self._packets = iter(packets)
        self._joins = joins
        self._locate = locate
        self._ordinal = 0
        self.position = -1

    def __iter__(self) -> JoinedPackets:
        return self

    def __next__(self) -> Any:
        packet = next(self._packets)
        if packet.size == 0:
            return packet
        offset = self._joins.offset_at(self._ordinal)
        self._ordinal += 1
        if offset:
            if packet.pts is not None:
                packet.pts += offset
            if packet.dts is not None:
                packet.dts += offset
        found = self._locate(packet)
        if found is not None:
            self.position = found
        return packet
