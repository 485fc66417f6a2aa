"""The model families vlmcli supports, as plain data (no torch import).

A family groups the transformers `model_type`s that share one adapter. The adapter
classes live in `vlmcli.engine.adapters`; this table is what `vlm models` prints and
what the "unsupported family" error lists.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Family(str, enum.Enum):
    IDEFICS3 = "idefics3"
    QWEN2_VL = "qwen2_vl"
    LLAVA = "llava"
    LLAVA_NEXT = "llava_next"
    LLAVA_ONEVISION = "llava_onevision"


@dataclass(frozen=True)
class FamilyInfo:
    family: Family
    model_types: tuple[str, ...]
    """transformers `config.model_type` values handled by this family's adapter."""
    examples: tuple[str, ...]
    """Hub ids of well-known checkpoints, for help text."""
    video: bool
    """Whether the family has a native video path (others get frames as images)."""


FAMILIES: tuple[FamilyInfo, ...] = (
    FamilyInfo(
        Family.IDEFICS3,
        ("idefics3", "smolvlm"),
        ("HuggingFaceTB/SmolVLM-256M-Instruct", "HuggingFaceTB/SmolVLM2-256M-Video-Instruct"),
        video=True,
    ),
    FamilyInfo(
        Family.QWEN2_VL,
        ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe"),
        ("Qwen/Qwen2-VL-2B-Instruct", "Qwen/Qwen2.5-VL-3B-Instruct", "Qwen/Qwen3-VL-2B-Instruct"),
        video=True,
    ),
    FamilyInfo(Family.LLAVA, ("llava",), ("llava-hf/llava-1.5-7b-hf",), video=False),
    FamilyInfo(Family.LLAVA_NEXT, ("llava_next",), ("llava-hf/llava-v1.6-mistral-7b-hf",), video=False),
    FamilyInfo(
        Family.LLAVA_ONEVISION,
        ("llava_onevision",),
        ("llava-hf/llava-onevision-qwen2-0.5b-ov-hf",),
        video=True,
    ),
)

DEFAULT_MODEL = "HuggingFaceTB/SmolVLM2-256M-Video-Instruct"


def family_for_model_type(model_type: str) -> FamilyInfo | None:
    """The family whose adapter handles `model_type`, or None."""
    for info in FAMILIES:
        if model_type in info.model_types:
            return info
    return None


def supported_model_types() -> tuple[str, ...]:
    return tuple(t for info in FAMILIES for t in info.model_types)
