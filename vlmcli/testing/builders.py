"""Registry: family name (the HF `model_type`) -> tiny checkpoint builder.

Builders are imported on first use, so `import vlmcli.testing` stays cheap (no model classes).
A family is listed only when the installed transformers ships its model package, so a missing
family is a clear `ValueError` listing what is available, never a half-working folder.
"""

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path

Builder = Callable[..., Path]  # (out_dir, *, seed) -> out_dir

_BUILDERS: dict[str, tuple[str, str]] = {  # family -> (module, function)
    "idefics3": ("vlmcli.testing.idefics3", "build_idefics3"),
    "smolvlm": ("vlmcli.testing.idefics3", "build_smolvlm"),
    "qwen2_vl": ("vlmcli.testing.qwen", "build_qwen2_vl"),
    "qwen2_5_vl": ("vlmcli.testing.qwen", "build_qwen2_5_vl"),
    "qwen3_vl": ("vlmcli.testing.qwen", "build_qwen3_vl"),
    "qwen3_vl_moe": ("vlmcli.testing.qwen", "build_qwen3_vl_moe"),
    "llava": ("vlmcli.testing.llava", "build_llava"),
    "llava_next": ("vlmcli.testing.llava", "build_llava_next"),
    "llava_onevision": ("vlmcli.testing.llava", "build_llava_onevision"),
}


def _installed(family: str) -> bool:
    return importlib.util.find_spec(f"transformers.models.{family}") is not None


FAMILIES: tuple[str, ...] = tuple(family for family in _BUILDERS if _installed(family))


def get_builder(family: str) -> Builder:
    """The builder function of `family`; `ValueError` naming the known families otherwise."""
    if family not in FAMILIES:
        raise ValueError(f"unknown VLM family {family!r}; expected one of: {', '.join(FAMILIES)}")
    module_name, function_name = _BUILDERS[family]
    return getattr(importlib.import_module(module_name), function_name)


def build_tiny_checkpoint(family: str, out_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random checkpoint of `family` into `out_dir` and return the folder.

    The folder loads with `AutoProcessor.from_pretrained` and
    `AutoModelForImageTextToText.from_pretrained`. Same seed -> identical weights.
    """
    return get_builder(family)(Path(out_dir), seed=seed)
