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

A folder a download left part-way (segments the playlist names are not there) was read
silently as a shorter video, ffmpeg skipping what it cannot open. As a damaged packet is, a
missing segment is read around and said: `missing_note` names the missing segments and how
many (ask/describe in a `warning:` line and `--json`'s sampling `warnings`, through
`reading_notes`); a playlist none of whose segments is there is refused (`playlist_refusal`).
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import PurePath
from urllib.parse import unquote, urlsplit

from vlmcli.media.names import display_name

_URI_ATTRIBUTE = re.compile(rb'URI="([^"]*)"')
HEAD_BYTES = 64 * 1024
"""A playlist is text; its first 64 KiB list hours of segments."""
NAMED_MISSING = 3
"""Missing segments named in a note; the rest are counted."""


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


def local_entries(text: bytes) -> list[str]:
    """The entries of an HLS playlist (segment lines, and tags' URI="..."), in order, each once."""
    found: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        entries = _URI_ATTRIBUTE.findall(line) if line.startswith(b"#") else [line] if line else []
        for entry in entries:
            name = entry.decode("utf-8", "replace")
            if name not in found:
                found.append(name)
    return found


def missing_segments(path: str, text: bytes) -> tuple[list[str], int]:
    """(the entries of the local HLS playlist at `path`, reading `text`, that are no file, how
    many entries it has). Entries are found relative to the playlist's folder, as ffmpeg does."""
    folder = os.path.dirname(os.path.abspath(path))
    if len(text) >= HEAD_BYTES:  # the head of a longer playlist: its last line may be cut
        text = text[: text.rfind(b"\n") + 1]
    entries = [e for e in local_entries(text) if "://" not in e or e.lower().startswith("file://")]
    missing = [e for e in entries if not os.path.isfile(_entry_path(folder, e))]
    return missing, len(entries)


def _entry_path(folder: str, entry: str) -> str:
    if entry.lower().startswith("file://"):
        return unquote(urlsplit(entry).path)
    return os.path.join(folder, entry.split("?", 1)[0])


def missing_note(path: str, *, shown_as: str | None = None) -> str | None:
    """One sentence when the HLS playlist at `path` names segments that are not there (a
    download left part-way), naming them and how many, as `shown_as` (default: `path`); None
    for anything else."""
    from vlmcli.media.kinds import playlist_format

    try:
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError:
        return None
    if playlist_format(path, head[:512]) != "HLS" or remote_entry(head) is not None:
        return None
    missing, total = missing_segments(path, head)
    if not missing:
        return None
    named = ", ".join(missing[:NAMED_MISSING]) + (f" and {len(missing) - NAMED_MISSING} more" if len(missing) > NAMED_MISSING else "")
    count = f"{len(missing)} of its {total} segments are" if len(missing) > 1 else f"1 of its {total} segments is"
    return (
        f"{display_name(shown_as or path)}: {count} missing ({named}; a download not finished?): "
        "the video is read without what they hold"
    )


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
    if kind == "HLS":
        missing, total = missing_segments(path, head)
        if missing and len(missing) == total:
            return (
                f"{name} is an HLS playlist whose {total} segment(s) are all missing "
                f"({', '.join(missing[:NAMED_MISSING])}{', ...' if total > NAMED_MISSING else ''}): they must be "
                "where it names them, beside it (a download not finished, or the playlist copied without them?)."
            )
    return None
