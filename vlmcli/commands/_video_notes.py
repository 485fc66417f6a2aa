"""What ask and describe say about a video read otherwise than a user may expect, as video-summarize does.

One `warning:` line on stderr per note and video (video-summarize's word for the same sentences):
which of several video streams is read, a first picture after the file's start (times are on the
file's timeline), and a `--frames N` cut back to the frames the video holds.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from vlmcli.engine.video_input import VideoInput
from vlmcli.media.names import display_name

if TYPE_CHECKING:
    from vlmcli.video.sampling import SamplingOptions


def video_notes(clip: VideoInput, options: "SamplingOptions") -> tuple[str, ...]:
    """The notes of one decoded video (`VideoInput.notes`), with `--frames` cut back when it was."""
    reduced = options.reduced_note(clip.holds) if clip.holds else None
    if reduced is None:
        return clip.notes
    return (*clip.notes, f"{display_name(clip.source)}: {reduced}")


def say_video_notes(media: Iterable[object], options: "SamplingOptions", said: set[str]) -> None:
    """Each note of the videos among `media` once on stderr (`said`: those already written)."""
    for clip in media:
        if not isinstance(clip, VideoInput):
            continue
        for note in video_notes(clip, options):
            if note not in said:
                said.add(note)
                sys.stderr.write(f"warning: {note}\n")
