"""Frame sampling strategies: which frames of a video a model gets to see.

`get_sampler(SamplingMethod.KEYFRAME).select(info, scan, options=...)` is the whole API;
see `base.py` for the interface and one file per strategy.
"""

from vlmcli.video.sampling.base import Cut, FrameSampler, SampledFrame, SamplePlan
from vlmcli.video.sampling.options import SamplingOptions
from vlmcli.video.sampling.registry import SamplingMethod, get_sampler

__all__ = [
    "Cut",
    "FrameSampler",
    "SampledFrame",
    "SamplePlan",
    "SamplingMethod",
    "SamplingOptions",
    "get_sampler",
]
