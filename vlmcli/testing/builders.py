"""Tiny-checkpoint builders, found through the family registry (`vlmcli.families`).

Each registered model type has a builder `build_<model_type>(out_dir, *, seed)` in its
family's testing module (`FamilySpec.builders`); nothing here lists them again. Builders
are imported on first use, so `import vlmcli.testing` stays cheap (no model classes). A
model type is buildable only when the installed transformers ships its model package, so a
missing one is a clear `ValueError` listing what is available, never a half-working folder.
"""

import importlib.util
from collections.abc import Callable
from pathlib import Path

from vlmcli.families import builder_refs, resolve

Builder = Callable[..., Path]  # (out_dir, *, seed) -> out_dir


def _installed(model_type: str) -> bool:
    return importlib.util.find_spec(f"transformers.models.{model_type}") is not None


MODEL_TYPES: tuple[str, ...] = tuple(t for t in builder_refs() if _installed(t))
"""Registered model types this transformers can build tiny checkpoints of (what tests parametrise over)."""


def get_builder(model_type: str) -> Builder:
    """The builder function of `model_type`; `ValueError` naming the buildable ones otherwise."""
    if model_type not in MODEL_TYPES:
        raise ValueError(f"unknown VLM model type {model_type!r}; expected one of: {', '.join(MODEL_TYPES)}")
    return resolve(builder_refs()[model_type])


def build_tiny_checkpoint(model_type: str, out_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random checkpoint of `model_type` into `out_dir` and return the folder.

    The folder loads with `AutoProcessor.from_pretrained` and
    `AutoModelForImageTextToText.from_pretrained`. Same seed -> identical weights.
    """
    return get_builder(model_type)(Path(out_dir), seed=seed)
