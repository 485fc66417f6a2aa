"""HLS playlists of local segments read as the one video they index; remote ones refused.

Stream downloaders and browser extensions often leave a `.m3u8` playlist beside its `.ts` (or
fMP4 `.m4s`) segments. ffmpeg's hls demuxer reads such a folder as one video, seeking across
segments, so `ask`, `describe` and `video-summarize` take the playlist itself. A playlist whose
entries are URLs would make ffmpeg download them: vlmcli reads local files only, so such a
playlist is refused with the command that fetches it (and ffmpeg is held to the `file`
protocol in any case: `pyav_container.open_container`). DASH manifests are refused (ffmpeg's
dash demuxer is not in every PyAV build).

`caption-dir` captions files: walking a folder it sees the segments themselves, and a
playlist named to it is refused with the same advice.
"""

from __future__ import annotations

import re
import shlex
from pathlib import PurePath

from vlmcli.media.names import display_name

_URI_ATTRIBUTE = re.compile(rb'URI="([^"]*)"')
HEAD_BYTES = 64 * 1024
"""A playlist is text; its first 64 KiB list hours of segments."""


def remote_entry(text: bytes) -> str | None:
    """The first entry of an HLS playlist (a segment line, or a tag's URI="...") that is a URL
    (`https://...`, `s3://...`), or None when every entry is a local file."""
    for raw in text.splitlines():
        line = raw.strip()
        entries = _URI_ATTRIBUTE.findall(line) if line.startswith(b"#") else [line]
        for entry in entries:
            if b"://" in entry and not entry.lower().startswith(b"file://"):
                return entry.decode("utf-8", "replace")
    return None


def playlist_refusal(path: str, head: bytes) -> str | None:
    """Why the playlist at `path` (starting with `head`) is not read, or None when it is a local
    HLS playlist ffmpeg can read (or no playlist at all)."""
    from vlmcli.media.kinds import playlist_format

    kind = playlist_format(path, head[:512])
    name = display_name(path)
    whole = shlex.quote((PurePath(path).stem or "video") + ".mp4")
    if kind == "DASH":
        return (
            f"{name} is a DASH manifest, the index of a video cut into segments: join its segments first, "
            f"e.g. ffmpeg -i {shlex.quote(name)} -c copy {whole}."
        )
    if kind == "HLS" and (url := remote_entry(head)) is not None:
        return (
            f"{name} is an HLS playlist of remote segments ({url[:80]}); vlmcli reads local files and does not "
            f"download: fetch it first, e.g. ffmpeg -i {shlex.quote(name)} -c copy {whole}."
        )
    return None
