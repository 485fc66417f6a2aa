"""Turn a loaded model's linear layers into `Int8Linear` per a `QuantPlan` (in place, at load).

Weights come from the safetensors the model was just loaded from (no pickled artefact).
Sibling projections of one input in the language model (q/k/v, gate/up) become one fused
int8 layer (`fused_linear`). Layers are quantised on a pool of threads (the rounding and
FBGEMM's prepacking run outside the GIL): SmolVLM2-256M's 284 linear layers take ~1.6 s on
one thread of the 2-core machine; why nothing is cached on disk is in bench/RESULTS.md.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
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


def check_runtime(*, device: str, dtype: "Any", named: str | None = None) -> None:
    """int8 layers run on the CPU, float32 around them: say so before any weight is read.
    `dtype`: the language model's (bfloat16 under --dtype mixed); `named`: the --dtype value."""
    import torch

    if device != "cpu":
        raise ConfigError(f"--quantize int8 runs on the CPU only (the model is on {device}); drop it or use --device cpu.")
    if dtype != torch.float32:
        named = named or str(dtype).removeprefix("torch.")
        raise ConfigError(f"--quantize int8 keeps activations in float32; drop --dtype {named}.")


def _parts_of(model: Any, language_root: Any) -> dict[int, Part]:
    """id(module) -> part for every module: the LM head, the decoder's, everything else vision."""
    parts = {id(m): Part.VISION for m in model.modules()}
    for module in language_root.modules():
        parts[id(module)] = Part.LANGUAGE
    head = model.get_output_embeddings()
    if head is not None:
        parts[id(head)] = Part.LM_HEAD
    return parts


def quantize_model(
    model: Any, *, language_root: Any, plan: QuantPlan, fuse: bool = True, threads: int | None = None
) -> QuantReport:
    """Replace every `nn.Linear` of the planned parts by an `Int8Linear` (in place); with
    `fuse`, sibling projections of the language model by one `FusedInt8Linear` and its
    `Int8Part`s (same outputs, fewer calls). `threads`: quantising workers (default: torch's
    intra-op thread count)."""
    import torch

    from vlmcli.quantize.int8_linear import quantized_engine

    start = time.perf_counter()
    report = QuantReport()
    if not plan.parts:
        return report
    parts = _parts_of(model, language_root)
    targets = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if type(child) is torch.nn.Linear and plan.covers(parts[id(child)]) and not name.startswith(KEEP_FLOAT)
    ]
    jobs = _jobs(targets, parts, fuse=fuse)
    quantized_engine()  # a global setting: chosen once, before the workers start
    workers = max(1, threads or torch.get_num_threads())
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vlm-int8") as pool:
        built = list(pool.map(_build, jobs))
    for job, layer in zip(jobs, built):
        _install(job, layer)
    _own_float_weights(model)
    for parent, name, child in targets:
        part = parts[id(child)].value
        report.layers[part] = report.layers.get(part, 0) + 1
        report.float_bytes += child.weight.numel() * child.weight.element_size()
        report.int8_bytes += child.weight.numel()
    report.seconds = time.perf_counter() - start
    return report


def _own_float_weights(model: Any) -> None:
    """Copy what stays float (embeddings, norms, biases) out of the safetensors mapping.

    transformers maps the checkpoint file and its tensors are views of it; quantising reads
    every page, and while any float tensor still points into the file the whole mapping stays
    resident: ~1 GB of the file counted in RSS beside the int8 weights at SmolVLM2-256M size.
    Owning the few float tensors lets the mapping go (RSS 2.1 -> 1.4 GB there; ~0.3 s)."""
    import torch

    with torch.no_grad():
        for module in model.modules():
            for name, param in module._parameters.items():
                if param is not None and param.numel():
                    param.data = param.data.clone()
            for name, buffer in module._buffers.items():
                if buffer is not None and buffer.numel():
                    module._buffers[name] = buffer.clone()


@dataclass(frozen=True)
class _Job:
    """One int8 layer to build: from one linear layer, or from siblings of one parent."""

    parent: Any
    names: tuple[str, ...]
    linears: tuple[Any, ...]


def _jobs(targets: list[tuple[Any, str, Any]], parts: dict[int, Part], *, fuse: bool) -> list[_Job]:
    """Group the language model's sibling projections (`GROUPS`); every other layer alone."""
    from vlmcli.quantize.fused_linear import GROUPS

    by_parent: dict[int, dict[str, Any]] = {}
    for parent, name, child in targets:
        by_parent.setdefault(id(parent), {})[name] = child
    grouped: set[int] = set()
    jobs: list[_Job] = []
    for parent, name, child in targets:
        if id(child) in grouped:
            continue
        siblings = by_parent[id(parent)]
        group = next((g for g in GROUPS if name in g), None)
        if fuse and group is not None and parts[id(child)] is Part.LANGUAGE and _fusable([siblings.get(n) for n in group]):
            linears = tuple(siblings[n] for n in group)
            grouped.update(id(linear) for linear in linears)
            jobs.append(_Job(parent=parent, names=group, linears=linears))
        else:
            jobs.append(_Job(parent=parent, names=(name,), linears=(child,)))
    return jobs


def _fusable(linears: list[Any]) -> bool:
    return all(linear is not None for linear in linears) and len({linear.in_features for linear in linears}) == 1


def _build(job: _Job) -> Any:
    from vlmcli.quantize.fused_linear import FusedInt8Linear
    from vlmcli.quantize.int8_linear import Int8Linear, cpu_flags, full_range_ok

    reduce_range = not full_range_ok(cpu_flags())
    if len(job.linears) == 1:
        return Int8Linear(job.linears[0], reduce_range=reduce_range)
    return FusedInt8Linear(list(job.linears), reduce_range=reduce_range)


def _install(job: _Job, layer: Any) -> None:
    from vlmcli.quantize.fused_linear import Int8Part

    if len(job.names) == 1:
        setattr(job.parent, job.names[0], layer)
        return
    for index, name in enumerate(job.names):
        setattr(job.parent, name, Int8Part(layer, index))
