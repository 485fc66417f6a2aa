"""Registry: family name (the HF `model_type`) -> tiny checkpoint builder.

A family is listed only when the installed transformers has its model type, so a missing
family is a clear `ValueError` listing what is available, never a half-working folder.
"""

from collections.abc import Callable
from pathlib import Path

from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

from vlmcli.testing.idefics3 import build_idefics3, build_smolvlm
from vlmcli.testing.llava import build_llava, build_llava_next, build_llava_onevision
from vlmcli.testing.qwen import build_qwen2_5_vl, build_qwen2_vl, build_qwen3_vl, build_qwen3_vl_moe

Builder = Callable[..., Path]  # (out_dir, *, seed) -> out_dir

_ALL_BUILDERS: dict[str, Builder] = {
    "idefics3": build_idefics3,
    "smolvlm": build_smolvlm,
    "qwen2_vl": build_qwen2_vl,
    "qwen2_5_vl": build_qwen2_5_vl,
    "qwen3_vl": build_qwen3_vl,
    "qwen3_vl_moe": build_qwen3_vl_moe,
    "llava": build_llava,
    "llava_next": build_llava_next,
    "llava_onevision": build_llava_onevision,
}

BUILDERS: dict[str, Builder] = {
    family: builder for family, builder in _ALL_BUILDERS.items() if family in CONFIG_MAPPING_NAMES
}
FAMILIES: tuple[str, ...] = tuple(BUILDERS)


def build_tiny_checkpoint(family: str, out_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random checkpoint of `family` into `out_dir` and return the folder.

    The folder loads with `AutoProcessor.from_pretrained` and
    `AutoModelForImageTextToText.from_pretrained`. Same seed -> identical weights.
    """
    builder = BUILDERS.get(family)
    if builder is None:
        raise ValueError(f"unknown VLM family {family!r}; expected one of: {', '.join(FAMILIES)}")
    return builder(Path(out_dir), seed=seed)
