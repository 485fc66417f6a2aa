"""Turn a loaded model's linear layers into `Int8Linear` per a `QuantPlan` (in place, at load).

Weights come from the safetensors the model was just loaded from (no pickled artefact);
quantising SmolVLM2-256M's ~250 linear layers takes well under a second (bench/RESULTS.md),
so nothing is cached on disk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from vlmcli.errors import ConfigError
from vlmcli.quantize.mode import Part, QuantPlan

KEEP_FLOAT = ("patch_embed", "patch_dense")
"""Linear layers fed raw pixels (patch embeddings written as a Linear: SigLIP 2, Gemma 4)
stay float32: one small matrix per image, and the most precision-sensitive one (on the tiny
Gemma 4 checkpoint it alone moved the logits by half a standard deviation)."""


@dataclass
class QuantReport:
    """What `quantize_model` changed: layers and weight bytes per part, and the time it took."""

    layers: dict[str, int] = field(default_factory=dict)
    float_bytes: int = 0
    int8_bytes: int = 0
    seconds: float = 0.0


def check_runtime(*, device: str, dtype: "Any") -> None:
    """int8 layers run on the CPU, float32 around them: say so before any weight is read."""
    import torch

    if device != "cpu":
        raise ConfigError(f"--quantize int8 runs on the CPU only (the model is on {device}); drop it or use --device cpu.")
    if dtype != torch.float32:
        raise ConfigError(f"--quantize int8 keeps activations in float32; drop --dtype {str(dtype).removeprefix('torch.')}.")


def _parts_of(model: Any, language_root: Any) -> dict[int, Part]:
    """id(module) -> part for every module: the LM head, the decoder's, everything else vision."""
    parts = {id(m): Part.VISION for m in model.modules()}
    for module in language_root.modules():
        parts[id(module)] = Part.LANGUAGE
    head = model.get_output_embeddings()
    if head is not None:
        parts[id(head)] = Part.LM_HEAD
    return parts


def quantize_model(model: Any, *, language_root: Any, plan: QuantPlan) -> QuantReport:
    """Replace every `nn.Linear` of the planned parts by an `Int8Linear` (in place)."""
    import torch

    from vlmcli.quantize.int8_linear import Int8Linear, cpu_flags, full_range_ok

    start = time.perf_counter()
    report = QuantReport()
    if not plan.parts:
        return report
    reduce_range = not full_range_ok(cpu_flags())
    parts = _parts_of(model, language_root)
    targets = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if type(child) is torch.nn.Linear and plan.covers(parts[id(child)]) and not name.startswith(KEEP_FLOAT)
    ]
    for parent, name, child in targets:
        setattr(parent, name, Int8Linear(child, reduce_range=reduce_range))
        part = parts[id(child)].value
        report.layers[part] = report.layers.get(part, 0) + 1
        report.float_bytes += child.weight.numel() * child.weight.element_size()
        report.int8_bytes += child.weight.numel()
    report.seconds = time.perf_counter() - start
    return report
