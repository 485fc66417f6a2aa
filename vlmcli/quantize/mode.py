"""What `--quantize` means: the modes, the parts of a model each one quantises (pure data).

A model splits into three parts by where its linear layers sit:

    VISION     the vision tower and the projector (compute-bound: many patches per call)
    LANGUAGE   the decoder's linear layers (memory-bound at decode: every weight per token)
    LM_HEAD    the output projection (vocabulary x hidden, the largest single matrix)

Embeddings and norms are never quantised (lookups and elementwise work, no matmul).
Which parts `int8` covers was chosen by measurement (bench/RESULTS.md, issue 16).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from vlmcli.errors import ConfigError


class Quantize(str, enum.Enum):
    NONE = "none"
    INT8 = "int8"


class Part(str, enum.Enum):
    VISION = "vision"
    LANGUAGE = "language"
    LM_HEAD = "lm_head"


@dataclass(frozen=True)
class QuantPlan:
    """The parts a mode turns into int8 linear layers (weights int8 per output channel,
    activations int8 per call)."""

    parts: frozenset[Part] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", frozenset(Part(p) for p in self.parts))

    def covers(self, part: Part) -> bool:
        return part in self.parts

    @property
    def label(self) -> str:
        return "+".join(sorted(p.value for p in self.parts)) or "none"


PLANS: dict[Quantize, QuantPlan] = {
    Quantize.NONE: QuantPlan(),
    Quantize.INT8: QuantPlan(frozenset({Part.VISION, Part.LANGUAGE, Part.LM_HEAD})),
}


def plan_for(mode: Quantize | str) -> QuantPlan:
    try:
        return PLANS[Quantize(mode)]
    except ValueError:
        choices = ", ".join(m.value for m in Quantize)
        raise ConfigError(f"quantize must be one of {choices}, not {mode!r}.") from None
