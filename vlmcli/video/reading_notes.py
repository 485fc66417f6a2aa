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
  (`timeline_joins.timeline_note`);
- an MPEG-TS that ends cut short, its torn last frames left out (`torn_tail.torn_note`);
- a `--frames N` above the frames the video holds, cut back (`SamplingOptions.reduced_note`).

`ask` and `describe` say each on stderr (a `warning:` line) and list them in `--json`
(`warnings` of the video's `sampling`, as `video-summarize --json` lists its own).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmcli.media.names import display_name

if TYPE_CHECKING:
    from vlmcli.video.sample import SampledVideo


def file_notes(path: str, *, shown_as: str) -> tuple[str | None, ...]:
    """The notes the file itself tells (None where it tells nothing): which stream of several is
    read, an HLS playlist's missing segments, timestamps that jump, a torn end. `ask` and
    `describe` add them to their sampling's notes (`reading_notes`), `video-summarize` prints
    them with its plan."""
    from vlmcli.video.playlists import missing_note
    from vlmcli.video.stream_facts import streams_note
    from vlmcli.video.timeline_joins import timeline_note
    from vlmcli.video.torn_tail import torn_note

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
