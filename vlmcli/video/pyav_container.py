"""Opening a file with PyAV: the container (with a reason when ffmpeg cannot), its main video
stream (cover pictures are not video), and PyAV itself, imported lazily."""

from __future__ import annotations

import os
from typing import Any

from vlmcli.errors import BackendUnavailableError, VideoError
from vlmcli.media.names import display_name
from vlmcli.video.reasons import reason_of


def video_streams(container: Any) -> list[Any]:
    """The container's video streams, cover pictures left out, in stream order."""
    cover = av_module().stream.Disposition.attached_pic
    return [s for s in container.streams.video if not (s.disposition & cover)]


def video_stream(path: str, container: Any) -> Any:
    """The main video stream (ffmpeg's best: the largest picture, then the first); `VideoError`
    when the container lists none (checked, not guessed). With several, `stream_facts.StreamFacts`
    counts them and `stream_facts.streams_note` says which one is read."""
    videos = video_streams(container)
    if not videos:
        kinds = sorted({"cover picture" if s.type == "video" else str(s.type) for s in container.streams})
        listed = ", ".join(kinds) if kinds else "none"
        raise VideoError(f"{display_name(path)} has no video stream (its streams: {listed}).")
    best = container.streams.best("video")
    return best if best in videos else videos[0]


def open_container(path: str) -> Any:
    """`path` opened by ffmpeg, held to local files: a playlist's segments included (`playlists.py`)."""
    av = av_module()
    _refuse_non_video(path)
    try:
        return av.open(ffmpeg_path(path), mode="r", metadata_errors="ignore", options={"protocol_whitelist": "file"})
    except av.FFmpegError as exc:
        from vlmcli.video.mp4_boxes import index_damage

        if (damage := index_damage(path)) is not None:  # an MP4/MOV whose boxes say what is missing
            raise VideoError(f"Could not open {display_name(path)}: {damage}.") from exc
        raise VideoError(
            f"Could not open {display_name(path)} as a video: not a video file ffmpeg can read "
            f"({reason_of(exc)})."
        ) from exc


def _refuse_non_video(path: str) -> None:
    """What ffmpeg would open but must not be read as a video: a remote or DASH playlist
    (`playlists.py`), a PDF (ffmpeg finds the JPEG pictures inside a scan and plays them as
    frames; `ask`/`describe` read its pages)."""
    from vlmcli.media.kinds import is_pdf, playlist_format
    from vlmcli.video.playlists import HEAD_BYTES, playlist_refusal

    try:
        with open(path, "rb") as handle:
            head = handle.read(1024)  # every open of every video: a small read
            if is_pdf(head):
                raise VideoError(f"{display_name(path)} is a PDF document, not a video: vlm ask and vlm describe read its pages.")
            if playlist_format(path, head[:512]) is None:
                return
            head += handle.read(HEAD_BYTES - len(head))  # a playlist: its entries, to find a remote one
    except OSError:
        return  # ffmpeg's own open says why
    if (why := playlist_refusal(path, head)) is not None:
        raise VideoError(why)


def ffmpeg_path(path: str) -> str:
    """`path` as ffmpeg must be given a local file: absolute. ffmpeg reads what comes before a
    first colon as a protocol when it looks like one, so `2024-01-01T10:30:00.mp4` or
    `clip:1.mp4` failed ("Protocol not found"); an absolute path starts with `/` (or a drive)."""
    return os.path.abspath(path)


def av_module() -> Any:
    """Import PyAV lazily (keeps CLI start-up fast)."""
    try:
        import av
    except ImportError as exc:
        raise BackendUnavailableError("Reading video needs PyAV; install it with `pip install av`.") from exc
    return av
