"""What was read of a video otherwise than a user may expect: the sampling report's `notes`.

Three sentences, each naming the input as the user gave it (a dataset item's clip is read
from a temporary copy whose name means nothing to them), the same that `video-summarize`
says of its video:

- which video stream of several is read (`decode_pyav.streams_note`: two camera angles, a
  picture-in-picture track);
- a first picture after the file's start (`VideoInfo.start_note`): times are on the file's
  timeline;
- a `--frames N` above the frames the video holds, cut back (`SamplingOptions.reduced_note`).

`ask` and `describe` say each on stderr (a `warning:` line) and list them in `--json`
(`warnings` of the video's `sampling`, as `video-summarize --json` lists its own).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmcli.media.names import display_name

if TYPE_CHECKING:
    from vlmcli.video.sample import SampledVideo


def reading_notes(sampled: "SampledVideo", *, source: str | None = None) -> tuple[str, ...]:
    """The notes on how `sampled` was read, naming the video as `source` (default: its path)."""
    from vlmcli.video.decode_pyav import streams_note

    name = source if source is not None else str(sampled.info.path)
    notes = [streams_note(str(sampled.info.path), shown_as=name)]
    start = sampled.info.start_note()
    notes.append(f"{display_name(name)}: {start}" if start is not None else None)
    holds = sampled.info.frame_count
    reduced = sampled.options.reduced_note(holds) if holds > 0 else None
    notes.append(f"{display_name(name)}: {reduced}" if reduced is not None else None)
    return tuple(note for note in notes if note is not None)
