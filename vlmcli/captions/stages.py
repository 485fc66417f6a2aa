"""What every backend builds to caption a batch: the batch runner and the path decoder.

The local pipeline (`pipeline.py`) and the Ray actors (`ray_backend.py`) both build these,
so they live below both and neither backend imports the other for them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from vlmcli.captions.config import VideoCaptioning
from vlmcli.captions.decode import Decoded, decode
from vlmcli.captions.plan import Task
from vlmcli.captions.rows import RowContext
from vlmcli.captions.runner import BatchRunner


def runner_for(
    engine: Any, ctx: RowContext, *, generation: Any, system: str | None, debug: bool, videos: VideoCaptioning | None
) -> BatchRunner:
    """The batch runner; with --videos, one that also sends videos (`videos.MediaRunner`)."""
    if videos is None:
        return BatchRunner(engine, generation, ctx, system=system, debug=debug)
    from vlmcli.captions.videos import MediaRunner

    return MediaRunner(engine, generation, ctx, system=system, debug=debug)


def task_decoder(
    batches: Sequence[Sequence[Task]],
    *,
    max_image_pixels: int | None,
    videos: VideoCaptioning | None,
    read: Callable[[str], bytes] | None = None,
    locate: Callable[[str], str] | None = None,
) -> Callable[[str], Decoded]:
    """path -> Decoded for the tasks of `batches`: sampled frames for videos, else an image
    (its bytes from `read`, for dataset items; from the file by default). A dataset's
    videos are read from the files `locate` names (`inputs.clip_files`), or without it
    from their bytes (`read`: a Ray actor's), written to a temporary file while decoded."""
    decode_image = partial(decode, max_pixels=max_image_pixels, **({"read": read} if read else {}))
    clips = {t.path for batch in batches for t in batch if t.video is not None}
    if not clips or videos is None:
        return decode_image
    from vlmcli.captions.videos import decode_video, decode_video_bytes

    def decode_clip(path: str) -> Decoded:
        if locate is None and read is not None:
            return decode_video_bytes(path, read, videos=videos)
        return decode_video(path, videos=videos, file=locate(path) if locate else None)

    return lambda path: decode_clip(path) if path in clips else decode_image(path)
