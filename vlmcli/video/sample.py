"""Video file in, chosen frames out: probe, scan if the method needs it, plan, decode.

The only function in `vlmcli.video` that strings I/O and pure planning together; commands
call this, tests of the pieces call the pieces.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from vlmcli.video.decode import Frames, Opener, open_decord, probe, read_frames
from vlmcli.video.metadata import VideoInfo
from vlmcli.video.sampling import SamplePlan, SamplingMethod, SamplingOptions, get_sampler
from vlmcli.video.scan import Scan, scan_video


@dataclass(frozen=True, eq=False)
class SampledVideo:
    """A video's properties, the sampling plan, and the decoded frames (plan order)."""

    info: VideoInfo
    plan: SamplePlan
    frames: Frames
    method: SamplingMethod = SamplingMethod.UNIFORM
    scan: Scan | None = None
    """The low-resolution scan the sampler read (keyframe, dynamic); None for uniform."""
    options: SamplingOptions = SamplingOptions()
    """The frame budget asked for: a `--frames N` above what the video holds was cut back
    (`SamplingOptions.reduced_note`, said in the sampling report's notes)."""


def sample_video(
    path: str | os.PathLike[str],
    *,
    method: SamplingMethod | str = SamplingMethod.UNIFORM,
    options: SamplingOptions = SamplingOptions(),
    max_side: int | None = None,
    opener: Opener = open_decord,
) -> SampledVideo:
    """Choose frames of `path` with `method` and decode exactly those, at most `max_side` px.

    Raises `VideoError` for a bad file and `ConfigError` for an unknown method.
    """
    sampler = get_sampler(method)
    info = probe(path, opener=opener)
    scan = scan_video(path, info=info, opener=opener) if sampler.needs_scan else None
    plan = sampler.select(info, scan, options=options)
    frames = read_frames(path, plan.indices, max_side=max_side, info=info, opener=opener)
    return SampledVideo(
        info=info, plan=plan, frames=frames, method=SamplingMethod.parse(method), scan=scan, options=options
    )
