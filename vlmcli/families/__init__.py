"""The model families vlmcli supports: one registry (`registry.FAMILIES`), plain data.

Importing this package is cheap (no torch, no transformers): each entry names its
adapter, planner and builders as "module:attribute" strings, imported when used.
"""

from vlmcli.families.registry import (
    DEFAULT_MODEL,
    FAMILIES,
    builder_refs,
    family_for_model_type,
    supported_model_types,
)
from vlmcli.families.spec import Batching, FamilySpec, Positions, VideoPath, resolve

__all__ = [
    "Batching",
    "DEFAULT_MODEL",
    "FAMILIES",
    "FamilySpec",
    "Positions",
    "VideoPath",
    "builder_refs",
    "family_for_model_type",
    "resolve",
    "supported_model_types",
]
