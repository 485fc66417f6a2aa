"""The one place a sampling method name becomes a sampler.

Commands parse `--sampling NAME` with `SamplingMethod.parse` (a `ConfigError` listing the
choices for a bad name) and call `get_sampler`; nothing else compares method strings.
"""

from __future__ import annotations

from vlmcli.choices import Choice
from vlmcli.video.sampling.base import FrameSampler
from vlmcli.video.sampling.dynamic import DynamicSampler
from vlmcli.video.sampling.keyframe import KeyframeSampler
from vlmcli.video.sampling.uniform import UniformSampler


class SamplingMethod(Choice):
    """How frames are chosen from a video."""

    UNIFORM = "uniform"
    """Evenly spaced in time; no scan."""
    KEYFRAME = "keyframe"
    """At least one frame per detected scene (hard cuts), the rest by scene length."""
    DYNAMIC = "dynamic"
    """Denser where the picture changes, with a uniform floor."""

    @classmethod
    def label(cls) -> str:
        return "sampling method"


_SAMPLERS: dict[SamplingMethod, type[FrameSampler]] = {
    SamplingMethod.UNIFORM: UniformSampler,
    SamplingMethod.KEYFRAME: KeyframeSampler,
    SamplingMethod.DYNAMIC: DynamicSampler,
}


def get_sampler(method: "SamplingMethod | str") -> FrameSampler:
    """A sampler with default tuning for `method` (an enum member or its name)."""
    return _SAMPLERS[SamplingMethod.parse(method)]()
