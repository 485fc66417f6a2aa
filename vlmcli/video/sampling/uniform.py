"""Uniform sampling: equal time between frames, no look at the content.

The baseline every VLM video processor uses and the right default when the video is one
continuous shot. It needs no scan, so it costs exactly the decode of the chosen frames.
"""

from __future__ import annotations

from vlmcli.video.metadata import VideoInfo
from vlmcli.video.sampling.base import FrameSampler, SampledFrame, SamplePlan
from vlmcli.video.sampling.options import SamplingOptions
from vlmcli.video.sampling.spacing import segment_centres, time_centres
from vlmcli.video.scan import Scan


class UniformSampler(FrameSampler):
    """N frames at the centres of N equal stretches of the video's time.

    N is `options.budget(info)`: `frames` if given, else round(duration * fps) capped by
    `max_frames`, else `max_frames`; never more than the video has. With fps=1 on a 10 s
    video the frames sit at 0.5 s, 1.5 s, ... 9.5 s. On a constant-rate video equal times
    are equal frame counts; on a variable-rate one (`VideoInfo.frame_times`) the frames
    are placed by their real times, so a recording that slowed to 1 frame a second while
    nothing moved is not sampled as if those seconds were a few frames long. A frame held
    longer than one stretch (a paused screen recording) is taken once, and the frames it
    would have taken go to the rest of the video (`spacing.time_centres`).
    """

    needs_scan = False

    def select(self, info: VideoInfo, scan: Scan | None, *, options: SamplingOptions) -> SamplePlan:
        n = options.budget(info)
        if info.frame_times is None:
            idx = segment_centres(start=0, stop=info.frame_count, n=n)  # (n,) strictly increasing
        else:
            idx = time_centres(info.frame_times, duration=info.duration_s, n=n)  # (n,) strictly increasing
        return SamplePlan(
            frames=tuple(
                SampledFrame(index=int(i), t=info.time_of(int(i)), reason=f"uniform {j + 1}/{n}")
                for j, i in enumerate(idx)
            )
        )
