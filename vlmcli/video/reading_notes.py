"""What was read of a video otherwise than a user may expect: the sampling report's `notes`.

Six sentences, each naming the input as the user gave it (a dataset item's clip is read
from a temporary copy whose name means nothing to them), the same that `video-summarize`
says of its video:

- which video stream of several is read (`stream_facts.streams_note`: two camera angles, a
  picture-in-picture track);
- a first picture after the file's start (`VideoInfo.start_note`): times are on the file's
  timeline;
- segments an HLS playlist names that are not there (`playlists.missing_note`);
- timestamps that jump (MPEG-TS recordings joined with `cat`), joined into one timeline
  (`timeline_note`, joined by `timeline_joins`);
- an MPEG-TS that ends cut short, its torn last frames left out (`torn_note`, found by `torn_tail`);
- a `--frames N` above the frames the video holds, cut back (`SamplingOptions.reduced_note`).

`ask` and `describe` say each on stderr (a `warning:` line) and list them in `--json`
(`warnings` of the video's `sampling`, as `video-summarize --json` lists its own).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmcli.media.names import display_name

if TYPE_CHECKING:
    from vlmcli.video.packet_index import PacketIndex
    from vlmcli.video.sample import SampledVideo


def file_notes(path: str, *, shown_as: str) -> tuple[str | None, ...]:
    """The notes the file itself tells (None where it tells nothing): which stream of several is
    read, an HLS playlist's missing segments, timestamps that jump, a torn end. `ask` and
    `describe` add them to their sampling's notes (`reading_notes`), `video-summarize` prints
    them with its plan."""
    from vlmcli.video.playlists import missing_note
    from vlmcli.video.stream_facts import streams_note

    return (
        streams_note(path, shown_as=shown_as),
        missing_note(path, shown_as=shown_as),
        timeline_note(path, shown_as=shown_as),
        torn_note(path, shown_as=shown_as),
    )


def reading_notes(sampled: "SampledVideo", *, source: str | None = None) -> tuple[str, ...]:
    """The notes on how `sampled` was read, naming the video as `source` (default: its path)."""
    name = source if source is not None else str(sampled.info.path)
    streams, missing, timeline, torn = file_notes(str(sampled.info.path), shown_as=name)
    notes = [streams, missing]
    start = sampled.info.start_note()
    notes.append(f"{display_name(name)}: {start}" if start is not None else None)
    notes += [timeline, torn]
    holds = sampled.info.frame_count
    reduced = sampled.options.reduced_note(holds) if holds > 0 else None
    notes.append(f"{display_name(name)}: {reduced}" if reduced is not None else None)
    return tuple(note for note in notes if note is not None)


def _ts_index(path: str) -> "PacketIndex | None":
    """The PyAV reader's (cached) packet index of `path` when its format's timestamps may jump
    (MPEG-TS/PS, HLS: always read by PyAV); None for other formats or a file that cannot be
    read (reading it says why)."""
    from vlmcli.video.decode_pyav import packet_index
    from vlmcli.video.stream_facts import inspect_video

    try:
        return packet_index(path) if inspect_video(path).discontinuous else None
    except Exception:  # noqa: BLE001 - a note only
        return None


def timeline_note(path: str, *, shown_as: str | None = None) -> str | None:
    """One sentence when the timestamps of `path`'s video jump and were joined
    (`timeline_joins`), naming the file as `shown_as` (default: `path`); None otherwise."""
    index = _ts_index(path)
    if index is None or index.joins is None:
        return None
    times = "once" if index.joins.count == 1 else f"{index.joins.count} times"
    return (
        f"{display_name(shown_as or path)}: its timestamps jump {times} (recordings joined into one file, "
        "e.g. with cat); each part is read as following the one before it, as ffmpeg does"
    )


def torn_note(path: str, *, shown_as: str | None = None) -> str | None:
    """One sentence when `path` ends cut short and frames were left out there (`torn_tail`),
    naming it as `shown_as` (default: `path`); None otherwise."""
    index = _ts_index(path)
    if index is None or not index.torn:
        return None
    frames = "frame" if index.torn == 1 else f"{index.torn} frames"
    return (
        f"{display_name(shown_as or path)}: the file ends cut short (a recording or copy stopped part-way); "
        f"its last {frames}, shown after pictures that were cut off, left out"
    )
