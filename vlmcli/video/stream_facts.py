"""What the container header says about a file's video stream, read with PyAV (nothing decoded
but the first picture).

`inspect_video` opens the container once per file (cached while the file is unchanged,
`file_cache.py`) and returns `StreamFacts`: the chosen stream, its codec and size, frame rate,
display rotation, edit-list trim, HDR transfer, field order, alpha, where its first picture
sits on the file's timeline, and how many video streams the file holds (`streams_note`
says which one is read). The PyAV reader (`decode_pyav.py`) and the backend choice
(`backends.py`) build on these facts. A file is said to have no video stream only here,
when the container lists none.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from vlmcli.errors import VideoError
from vlmcli.media.names import display_name
from vlmcli.video.alpha import pixel_format_has_alpha, side_decoder
from vlmcli.video.file_cache import FileKey, cached_per_file
from vlmcli.video.pyav_container import open_container as _open_container, video_stream as _video_stream
from vlmcli.video.pyav_container import video_streams as _video_streams
from vlmcli.video.packet_index import RAW_STREAM_FORMATS


TS_DISCONT = 0x0200
"""libavformat's AVFMT_TS_DISCONT: the format's timestamps may jump (MPEG-TS, MPEG-PS, HLS)."""


@dataclass(frozen=True)
class StreamFacts:
    """What the container header says about a file's video stream (nothing decoded).

    container: PyAV's demuxer name ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "mpeg", ...).
    codec: the video decoder's name ("h264", "hevc", "vp9", "libdav1d", ...).
    stream: index of the chosen video stream among all streams.
    width, height: coded frame size in pixels. fps: average frame rate, None if unknown.
    header_frames: frame count the header claims, 0 if it does not say.
    rotation: the display rotation in degrees counter-clockwise (a phone's portrait video: 90
        or -90), read from the first frame; 0 when there is none or no frame decodes.
    trimmed: an edit list hides pictures before the first shown one (packets flagged discard:
        an MP4/MOV cut without re-encoding, `ffmpeg -ss ... -c copy` or a phone's trim).
    header_end_s: the stream's duration in seconds as the header states it, None if it does not.
    transfer: "pq" or "hlg" for an HDR stream (`video.hdr`: its frames are tone-mapped to SDR),
        None for SDR.
    first_field: "top" or "bottom" for an interlaced stream, the field it shows first
        (`video.interlace`: one field of each frame is kept), None for progressive video.
    reorders: the codec may show pictures in another order than it stores them (B-frames).
    alpha: the stream has an alpha channel (`video.alpha`): its frames are composed on white.
    alpha_decoder: the decoder that reads a VP8/VP9 stream's alpha ("libvpx-vp9", "libvpx"),
        used instead of ffmpeg's own, which drops it; None when the stream's decoder gives it.
    """

    container: str
    codec: str
    stream: int
    width: int
    height: int
    fps: float | None
    header_frames: int
    rotation: float = 0.0
    trimmed: bool = False
    header_end_s: float | None = None
    transfer: str | None = None
    first_field: str | None = None
    reorders: bool = False
    alpha: bool = False
    alpha_decoder: str | None = None
    start_s: float = 0.0
    """Where the first shown picture sits on the file's timeline, in seconds after the
    container's start (what a player shows as 0:00): > 0 when the video stream starts after
    the audio (`-itsoffset`, a recorder that starts the picture late) or the file was cut
    mid-GOP (a TS segment: the pictures before the first keyframe cannot be decoded and are
    dropped). 0 when unknown."""
    video_streams: int = 1
    """Video streams in the file (cover pictures not counted): a Matroska or MP4 with two
    angles or a picture-in-picture track holds several, and only `stream` is read."""
    video_position: int = 0
    """`stream`'s place among those video streams, from 0 (ffmpeg's `-map 0:v:N`)."""
    discontinuous: bool = False
    """The format's timestamps may jump (MPEG-TS, MPEG-PS, HLS: libavformat's AVFMT_TS_DISCONT):
    recordings joined with `cat` are read as one timeline (`timeline_joins.py`)."""


def streams_note(path: str, *, shown_as: str | None = None) -> str | None:
    """One sentence when `path` holds several video streams (only one is read), naming the file
    as `shown_as` (default: `path`), else None; None too when the header cannot be read
    (reading the video says why)."""
    try:
        facts = inspect_video(path)
    except Exception:  # noqa: BLE001 - a note only
        return None
    if facts.video_streams < 2:
        return None
    return (
        f"{display_name(shown_as or path)} has {facts.video_streams} video streams; only video stream "
        f"{facts.video_position + 1} (stream #{facts.stream}, {facts.width}x{facts.height}, ffmpeg's default "
        f"choice) is read, the others are not"
    )


def inspect_video(path: str) -> StreamFacts:
    """The header facts of `path`'s video stream; `VideoError` if there is none."""
    return cached_per_file(header_facts, path)


@functools.lru_cache(maxsize=64)
def header_facts(key: FileKey) -> StreamFacts:
    """`inspect_video` of the file `key` names; call it through `file_cache.cached_per_file` or
    `through_cache`, which skip the cache for a just-modified file."""
    path = key[0]
    with _open_container(path) as container:
        stream = _video_stream(path, container)
        videos = _video_streams(container)
        ctx = stream.codec_context
        if ctx is None or not ctx.width or not ctx.height:
            if str(container.format.name) == "image2":  # ffmpeg went by the name (notes.jpg holding text)
                raise VideoError(
                    f"{display_name(path)} is not a video file (and not a picture ffmpeg can decode either: "
                    "damaged, or another kind of file under a picture's name)."
                )
            raise VideoError(
                f"Could not open {display_name(path)}: ffmpeg has no decoder for its video stream "
                f"or does not know the frame size."
            )
        rate = stream.average_rate or stream.guessed_rate
        if str(container.format.name) in RAW_STREAM_FORMATS:  # the demuxer's 25 fps is made up: the stream's own
            rate = ctx.framerate or stream.guessed_rate or rate
        rotation, trimmed, interlaced, first_t = _first_picture(stream, container)
        origin = container.start_time / 1_000_000 if container.start_time is not None else None  # AV_TIME_BASE
        alpha_decoder = side_decoder(str(ctx.name), dict(stream.metadata), path=path)
        return StreamFacts(
            container=str(container.format.name), codec=str(ctx.name), stream=int(stream.index),
            width=int(ctx.width), height=int(ctx.height),
            fps=float(rate) if rate and float(rate) > 0 else None, header_frames=int(stream.frames or 0),
            rotation=rotation, trimmed=trimmed,
            header_end_s=float(stream.duration * stream.time_base) if stream.duration else None,
            transfer=_transfer_value(ctx), first_field=_first_field(ctx, interlaced),
            reorders=bool(getattr(ctx, "has_b_frames", False)),
            alpha=alpha_decoder is not None or pixel_format_has_alpha(ctx.pix_fmt), alpha_decoder=alpha_decoder,
            start_s=max(0.0, first_t - origin) if first_t is not None and origin is not None else 0.0,
            video_streams=len(videos), video_position=next((k for k, v in enumerate(videos) if v.index == stream.index), 0),
            discontinuous=bool(int(container.format.flags or 0) & TS_DISCONT),
        )


def _transfer_value(ctx: Any) -> str | None:
    from vlmcli.video.hdr import transfer_of

    found = transfer_of(getattr(ctx, "color_trc", None))
    return found.value if found is not None else None


def _first_field(ctx: Any, frame_interlaced: bool) -> str | None:
    from vlmcli.video.interlace import first_field

    found = first_field(
        getattr(ctx, "field_order", None), frame_interlaced=frame_interlaced,
        codec=str(getattr(ctx, "name", "")), height=int(getattr(ctx, "height", 0) or 0),
    )
    return found.value if found is not None else None


def _first_picture(stream: Any, container: Any) -> tuple[float, bool, bool, float | None]:
    """(the first shown frame's display rotation in degrees counter-clockwise, whether packets
    before it are flagged discard, whether it is flagged interlaced, its time in seconds on the
    stream's clock or None), decoding up to that frame; rotation 0 if no frame decodes here
    (reading the file later says why, with the decoder's reason)."""
    hidden = False
    try:
        for packet in container.demux(stream):
            hidden = hidden or bool(packet.size and packet.is_discard)
            for frame in packet.decode():
                t = frame.time
                return (
                    float(getattr(frame, "rotation", 0) or 0), hidden, bool(getattr(frame, "interlaced_frame", False)),
                    float(t) if t is not None else None,
                )
    except Exception:  # noqa: BLE001 - a damaged first frame is reported by the read, not here
        pass
    return 0.0, hidden, False, None
