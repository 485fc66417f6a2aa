"""The PyAV backend: any video ffmpeg decodes, read sparsely and frame-accurately.

decord cannot open some files (AV1, WebM written as a stream without an index) and seeks
inexactly in others (MPEG-PS/TS, AVI, open-GOP HEVC); see `backends.py`. This reader
decodes whatever PyAV's ffmpeg decodes, and keeps sparse decoding:

1. `inspect_video` (`stream_facts.py`) reads the container header: streams, codec, size,
   frame rate. A file is said to have no video stream only there, when the container lists none.
2. The packet headers of the video stream are read once (`packet_index.py`; no decoding,
   cached per file), giving the frame count, each frame's real presentation time
   (variable frame rate included) and the keyframes.
3. `read` seeks to the keyframe before each wanted frame and decodes forward, recognising
   each decoded picture by its timestamp (never assuming the seek was exact: a seek that
   lands past the keyframe is retried from an earlier one, at worst from the start).
   Frames close together are read in one forward pass; a seek happens only when a keyframe
   lies between the last decoded picture and the next wanted one. A file whose timestamps
   jump (MPEG-TS parts joined with `cat`) is read on one joined timeline and never sought by
   timestamp, where two frames may share one (`timeline_joins.py`).
4. Pictures are converted to RGB at the requested size inside ffmpeg (swscale, bicubic,
   like decord), so large frames never materialise at full size. An HDR stream (PQ, HLG)
   is converted to 16-bit RGB and tone-mapped to SDR (`hdr.py`).

`frames_decoded` counts frames returned (like `DecordReader`); `pictures_decoded` counts
every picture the decoder produced, the real cost, so tests can prove reads stay sparse.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import numpy as np

from vlmcli.errors import VideoError
from vlmcli.media.names import display_name
from vlmcli.video.alpha import new_side_decoder
from vlmcli.video.file_cache import FileKey, cached_per_file, through_cache
from vlmcli.video.frame_pixels import frame_pixels
from vlmcli.video.pyav_container import av_module as _av, open_container as _open_container
from vlmcli.video.packet_index import DECODE_ORDER_FORMATS, RAW_STREAM_FORMATS, Numbering, PacketIndex, PacketInfo, build_index
from vlmcli.video.reasons import reason_of
from vlmcli.video.stream_facts import StreamFacts, header_facts
from vlmcli.video.timeline_joins import JoinedPackets, join_timeline
from vlmcli.video.torn_tail import drop_torn_tail

MAX_SEEK_RETRIES = 3  # earlier keyframes tried when a seek lands past the wanted one, before restarting


@functools.lru_cache(maxsize=16)
def _packet_index(key: FileKey) -> PacketIndex:
    path = key[0]
    facts = through_cache(header_facts, key)
    packets: list[PacketInfo] = []
    total, last_end = 0, 0
    with _open_container(path) as container:
        stream = container.streams[facts.stream]
        time_base = float(stream.time_base)
        try:
            for packet in container.demux(stream):
                if packet.size == 0:  # the flush packet at the end
                    continue
                total += 1
                if packet.pts is not None:
                    last_end = max(last_end, packet.pts + int(packet.duration or 0))
                packets.append(
                    PacketInfo(
                        packet.pts, packet.dts, bool(packet.is_keyframe), int(packet.duration or 0),
                        hidden=bool(packet.is_discard),  # before an edit list's start: decoded, never shown
                    )
                )
        except _av().FFmpegError as exc:
            raise VideoError(f"Could not read the video packets of {display_name(path)} ({reason_of(exc)}).") from exc
    check_whole(path, frames=total, end_s=float(last_end * time_base), facts=facts)
    joins = None
    if facts.discontinuous:  # recordings joined with cat: one timeline, as ffmpeg makes it
        packets, joins = join_timeline(packets, time_base=time_base, fps=facts.fps)
    torn = 0
    if facts.container not in DECODE_ORDER_FORMATS | RAW_STREAM_FORMATS:  # pictures known by their PTS
        packets, torn = drop_torn_tail(packets, time_base=time_base, fps=facts.fps)
    return build_index(packets, time_base=time_base, fps=facts.fps, container=facts.container, joins=joins, torn=torn)


def packet_index(path: str) -> PacketIndex:
    """The packet index of `path`'s video stream (cached per file, as the reader reads it)."""
    return cached_per_file(_packet_index, path)


def check_whole(path: str, *, frames: int, end_s: float, facts: StreamFacts) -> None:
    """`VideoError` when the file holds fewer frames than its header lists and they stop
    before the end it states: a copy or download cut short (a faststart MP4's index, written
    first, still lists every frame). Whichever decoder reads it, it is not read as a shorter video."""
    if 0 < frames < facts.header_frames and not _reaches_header_end(end_s, facts):
        raise VideoError(
            f"{display_name(path)} is truncated: its header lists {facts.header_frames} video frames "
            f"but the file holds {frames}."
        )


def _reaches_header_end(end_s: float, facts: StreamFacts) -> bool:
    """Whether the packets run to the end the header states (within two frames): then fewer
    packets than the header's frame count are frames it dropped (an AVI's zero-size chunks,
    which the demuxer skips), not a file cut short."""
    if facts.header_end_s is None:
        return False
    slack = 2.0 / facts.fps if facts.fps else 0.1
    return end_s >= facts.header_end_s - slack


class PyAVReader:
    """A PyAV container behind the `FrameReader` protocol, decoding only what `read` asks."""

    decoder = "pyav"

    def __init__(self, path: str, size: tuple[int, int] | None = None) -> None:
        _av()
        self._path = path
        self._facts = cached_per_file(header_facts, path)
        self._index = cached_per_file(_packet_index, path)
        self.frame_count = self._index.frame_count
        # the real average over the indexed frames: a variable-frame-rate MKV's header rate
        # is only ffmpeg's guess; for constant-rate video the two agree
        end = self._index.end_s
        self.fps = self.frame_count / end if end > 0 and self.frame_count > 1 else (self._facts.fps or 0.0)
        self.output_size = size if size is not None else (self._facts.width, self._facts.height)
        self.frames_decoded = 0
        self.pictures_decoded = 0
        self._container: Any = None  # opened on the first read: probing decodes nothing
        self._pictures: Iterator[tuple[int | None, Any]] | None = None
        self._last = -1  # frame index of the last picture the decoder produced
        self._side: Any = None  # libvpx decoder for VP8/VP9 alpha (alpha.py), fresh after each seek
        self._walk: JoinedPackets | None = None  # a joined timeline's demux from the start (_walk_to)

    def read(self, indices: np.ndarray) -> np.ndarray:
        width, height = self.output_size
        out = np.empty((len(indices), height, width, 3), dtype=np.uint8)  # (N, H, W, 3)
        for row, index in enumerate(np.asarray(indices, dtype=np.int64).tolist()):
            out[row] = self._to_rgb(self._frame(index))
        self.frames_decoded += len(indices)
        return out

    def start_times(self, indices: np.ndarray) -> np.ndarray:
        return self._index.times[np.asarray(indices, dtype=np.int64)].astype(np.float64)  # (N,)

    def end_time(self) -> float:
        return float(self._index.end_s)

    def key_indices(self) -> np.ndarray:
        """(K,) int64 keyframe indices from the packet index (no decoding)."""
        return self._index.key_indices()

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container, self._pictures, self._walk = None, None, None

    # --- decoding ---------------------------------------------------------------------

    def _frame(self, index: int) -> Any:
        """The decoded `av.VideoFrame` of frame `index`, seeking only when that saves decoding."""
        if not 0 <= index < self.frame_count:
            raise IndexError(f"frame {index} is outside [0, {self.frame_count})")
        key = self._index.seek_position(index)
        key_frame = int(self._index.frame_at[key])
        if self._pictures is None or index <= self._last or key_frame > self._last + 1:
            if self._anchored and key > 0:  # its leading pictures need the GOP before (packet_index.py)
                self._seek(self._index.earlier_keyframe(key) or 0, anchor=key)
            else:
                self._seek(key)
        assert self._pictures is not None
        try:
            for number, frame in self._pictures:
                if number is None:  # a picture the index does not list (a leading or discarded one)
                    continue
                self._last = number
                if number == index:
                    return frame
                if number > index:
                    break
        except BaseException:
            self._pictures = None  # the decode stopped here: the next read seeks afresh
            raise
        self._pictures = None
        raise VideoError(
            f"Could not decode frame {index} (at {self._index.times[index]:.2f} s) of "
            f"{display_name(self._path)}: the decoder produced no picture for it."
        )

    @property
    def _anchored(self) -> bool:
        """Frames are counted (no presentation times) in a stream that reorders pictures, and
        each picture's packet is known: counts start at an anchor, not at the seek."""
        return self._index.numbering is Numbering.COUNT and self._facts.reorders and self._index.picture_stamps is not None

    def _seek(self, key: int, *, anchor: int | None = None) -> None:
        """Position the decoder at keyframe `key` (decode position) or earlier, verified;
        with `anchor` (COUNT numbering), count frames from the first picture of a packet at
        or after decode position `anchor`."""
        av = _av()
        if self._index.joins is not None:  # a timestamp may name two frames: no seek by timestamp
            self._walk_to(key, anchor=anchor)
            return
        if self._container is None:
            self._container = _open_container(self._path)
        stream = self._container.streams[self._facts.stream]
        target: int | None = key
        for _ in range(MAX_SEEK_RETRIES):
            if target is None:
                break
            try:
                self._container.seek(int(self._index.stamps[target]), stream=stream, backward=True)
                landed = _land(self._container.demux(stream), self._index, key)
            except av.FFmpegError:
                landed = None
            if landed is not None:
                self._start(*landed, anchor=anchor)
                return
            target = self._index.earlier_keyframe(target)
        self._container.close()  # the container would not seek there: decode from the start
        self._container = _open_container(self._path)
        packets = self._container.demux(self._container.streams[self._facts.stream])
        self._start(packets, 0, anchor=anchor)

    def _walk_to(self, key: int, *, anchor: int | None = None) -> None:
        """On a joined timeline: demux, decoding nothing, to keyframe `key` (decode position),
        on from where the demux stands if that is before it, else from the file's start."""
        walk = self._walk
        if walk is None or walk.position >= key:
            self.close()
            self._container = _open_container(self._path)
            packets = self._container.demux(self._container.streams[self._facts.stream])
            walk = self._walk = JoinedPackets(packets, self._index.joins, locate=functools.partial(_located, self._index))
        else:  # pictures still in the decoder are before the frames wanted now
            self._container.streams[self._facts.stream].codec_context.flush_buffers()
        for packet in walk:
            if packet.size == 0:
                break
            if walk.position == key and packet.is_keyframe:
                self._start(_prepend(packet, walk), key, anchor=anchor)
                return
            if walk.position > key:
                break
        self.close()
        raise VideoError(
            f"Could not decode {display_name(self._path)}: its packets changed since it was indexed "
            f"(frame {int(self._index.frame_at[key])} was not found)."
        )

    def _start(self, packets: Iterator[Any], position: int, *, anchor: int | None = None) -> None:
        start = position if anchor is None or anchor < position else anchor
        frame = int(self._index.frame_at[start]) if start < len(self._index.stamps) else -1
        self._last = frame - 1 if frame >= 0 else -1  # a hidden keyframe: no frame decoded yet
        if self._facts.alpha_decoder is not None:
            self._side = new_side_decoder(self._facts.alpha_decoder, self._container.streams[self._facts.stream])
        self._pictures = self._decode(packets, first=max(frame, 0), anchor=None if start == position else start)

    def _decode(self, packets: Iterator[Any], *, first: int, anchor: int | None = None) -> Iterator[tuple[int | None, Any]]:
        """(frame index or None, picture) for every picture decoded from `packets` on; with
        `anchor`, pictures of packets before decode position `anchor` are no frame (None) and
        counting starts at the first picture of a packet at or after it."""
        av = _av()
        counted = first  # COUNT numbering: pictures counted from the starting keyframe
        for packet in packets:
            try:
                pictures = self._side.decode(packet) if self._side is not None else packet.decode()
            except av.FFmpegError as exc:
                if self._index.numbering is Numbering.PTS and anchor is None:  # pictures are known by PTS:
                    continue  # skip the damaged packet, as players and ffmpeg do
                raise VideoError(
                    f"Could not decode {display_name(self._path)} after frame {self._last} "
                    f"(ffmpeg: {reason_of(exc)})."
                ) from exc
            for picture in pictures:
                self.pictures_decoded += 1
                if anchor is not None:  # still in the GOP before: known by the packet it came from
                    packet_at = self._index.packet_of_picture(picture.pts)
                    if packet_at is None or packet_at < anchor:
                        yield None, picture
                        continue
                    anchor = None
                if self._index.numbering is Numbering.COUNT:
                    number, counted = counted, counted + 1
                else:
                    number = self._index.frame_of(picture.pts)
                yield number, picture

    def _to_rgb(self, frame: Any) -> np.ndarray:
        return frame_pixels(frame, size=self.output_size, transfer=self._facts.transfer, alpha=self._facts.alpha)  # (H, W, 3)


def _land(packets: Iterator[Any], index: PacketIndex, key: int) -> tuple[Iterator[Any], int] | None:
    """After a seek: skip to the first keyframe packet at or before decode position `key`.

    Returns (packets from that keyframe on, its decode position), or None when the seek
    went past `key` (or to the end), so the caller must seek earlier.
    """
    for packet in packets:
        if packet.size == 0:
            return None
        position = _located(index, packet)
        if position is None:
            continue
        if position > key:
            return None
        if packet.is_keyframe and index.keyframe[position]:
            return _prepend(packet, packets), position
    return None


def _located(index: PacketIndex, packet: Any) -> int | None:
    """The decode position of a demuxed packet, known by its PTS (PTS numbering) or DTS."""
    stamp = packet.pts if index.numbering is Numbering.PTS else (packet.dts if packet.dts is not None else packet.pts)
    return index.position_of(stamp)


def _prepend(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest
