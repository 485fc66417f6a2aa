"""`caption-dir --videos`: video files captioned through the video path, in the same rows.

A video task is decoded by sampling frames exactly as `vlm ask clip.mp4` does (the
`--sampling/--frames/--fps/--max-frames` options, frames at most `max_side` px), and the
engine gets one request with that clip. Its row has the fixed schema: `key` is the SHA-256
of the file, `width`/`height` the video's native size, `visual_tokens` what the clip cost.

Video rows have their own prompts (default: a video caption prompt) whose config hash
also covers the sampling settings, so resume tells a video captioned with 8 frames from
one asked for 16, and images' rows are untouched by video options. A video that cannot be
opened or decoded becomes an error row, like a corrupt image.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vlmcli.captions.config import CaptionJob, VideoCaptioning
from vlmcli.captions.decode import Decoded, as_decoded
from vlmcli.captions.plan import Task
from vlmcli.captions.prompts import Prompt, make_prompts
from vlmcli.captions.rows import joined_notes
from vlmcli.captions.runner import BatchRunner, Outcome
from vlmcli.sinks.schema import Row

if TYPE_CHECKING:
    from vlmcli.engine.request import Request

DEFAULT_VIDEO_PROMPT = "Describe this video in one or two sentences."


def video_prompts(job: CaptionJob, videos: VideoCaptioning) -> list[Prompt]:
    """The prompts of video rows: the run's prompts (or the video default), hashed with sampling."""
    return make_prompts(
        list(job.prompts) or [DEFAULT_VIDEO_PROMPT],
        model=job.engine.model,
        revision=job.engine.revision,
        system=job.system,
        generation=job.generation,
        resolution={"resolution": getattr(job.engine, "resolution", None), "video": videos.settings()},
        constraint=job.constraint,
        state_constraint=job.schema_prompt,
    )


def decode_video(path: str, *, videos: VideoCaptioning, file: str | None = None) -> Decoded:
    """Sample and decode the frames of `path` (read from `file`: a dataset item's bytes
    written out); never raises for a bad file (an error value, naming `path`)."""
    from vlmcli.engine.video_input import VideoInput
    from vlmcli.video.sample import sample_video

    def load() -> Any:
        sampled = sample_video(file or path, method=videos.method, options=videos.sampling(), max_side=videos.max_side)
        return VideoInput.from_sampled(sampled, source=path)

    decoded = as_decoded(load, path=path, what=" as a video", memory_hint="lower --frames")
    if file and decoded.error:
        return Decoded(None, decoded.error.replace(file, path))
    return decoded


def decode_video_bytes(path: str, read: Callable[[str], bytes], *, videos: VideoCaptioning) -> Decoded:
    """`decode_video` of a dataset clip whose bytes `read` gives (a Ray actor's spool reader):
    written to a temporary file for as long as its frames are decoded."""
    from vlmcli.inputs.clip_files import temporary_copy

    try:
        data = read(path)
    except OSError as exc:
        return Decoded(None, f"{path}: cannot read the clip's bytes ({exc}).")
    with temporary_copy(data, path) as file:
        return decode_video(path, videos=videos, file=file)


class MediaRunner(BatchRunner):
    """`BatchRunner` for runs with videos: a decoded `VideoInput` becomes a video request,
    and its rows carry the file's key and the video's native size."""

    def rows_for(self, task: Task, media: Any, outcome: Outcome) -> list[Row]:
        rows = _video_rows(super().rows_for(task, media, outcome), task)
        notes = reading_notes(media)
        for row in rows:
            row["notes"] = joined_notes(notes, row["notes"])
        return rows

    def error_rows(self, task: Task, message: str, latency_ms: float | None = None) -> list[Row]:
        return _video_rows(super().error_rows(task, message, latency_ms), task)

    def request_for(self, task: Task, media: Any) -> "Request":
        from vlmcli.engine.request import Request
        from vlmcli.engine.video_input import VideoInput

        if isinstance(media, VideoInput):
            return Request(prompt=task.prompt.text, videos=(media,), system=self.system, constraint=task.prompt.constraint)
        return super().request_for(task, media)


def reading_notes(media: Any) -> str | None:
    """The `notes` of a video's rows: the sentences its sampling report has on frames that
    stood in for damaged ones and on a scene scan cut short; None for a clip read as asked
    (and for pictures)."""
    sampling = getattr(media, "sampling", None)
    if sampling is None:
        return None
    said = [text for text in (sampling.damaged, sampling.scan_degraded) if text]
    return " ".join(_sentence(text) for text in said) or None


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _video_rows(rows: list[Row], task: Task) -> list[Row]:
    """A video's rows carry the file's key and the video's native size (images' are left as they are)."""
    if task.video is not None:
        for row in rows:
            row.update(key=task.key, width=task.video.width, height=task.video.height)
    return rows
