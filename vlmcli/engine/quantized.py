"""Checkpoints saved already quantized (config.json `quantization_config`), checked before loading.

vlmcli runs unquantized weights (its own `--quantize int8` rounds them after loading). A
checkpoint quantized by bitsandbytes, GPTQ, AWQ or compressed-tensors needs transformers'
quantized layers, and those need a package of their own (and bitsandbytes' 4/8-bit layers a
CUDA GPU); without it the load failed after the weights were read, as "unexpected ImportError:
... requires bitsandbytes", exit 1. Now that is one line before anything loads (and in
`--dry-run`), `BackendUnavailableError` (exit 7, like every missing optional backend): the
method, what to install, and the unquantized model as the other way. With the package (and
the GPU) installed, transformers' quantized layers load as they are; vlmcli's parity tests
do not cover them.

FP8 checkpoints are not refused: on a machine without an FP8 GPU transformers dequantizes
them while loading, so they run as unquantized weights.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from vlmcli.errors import BackendUnavailableError, ConfigError


@dataclass(frozen=True)
class Runtime:
    """What transformers needs to run one quantization method."""

    modules: tuple[str, ...]
    """Python modules that must import (transformers' own checks, 5.x)."""
    packages: tuple[str, ...]
    """The pip packages that provide them, in the same order."""
    cuda: bool = False
    """Whether its layers need a CUDA GPU (as vlmcli runs them)."""


RUNTIMES = {
    "bitsandbytes": Runtime(("bitsandbytes", "accelerate"), ("bitsandbytes", "accelerate"), cuda=True),
    "gptq": Runtime(("gptqmodel", "optimum"), ("gptqmodel", "optimum")),
    "awq": Runtime(("gptqmodel", "accelerate"), ("gptqmodel", "accelerate")),
    "compressed-tensors": Runtime(("compressed_tensors",), ("compressed-tensors",)),
}
DEQUANTIZED = frozenset({"fp8"})
"""Methods transformers turns back into plain weights where it cannot run them (a CPU)."""


def _spec(config: dict) -> dict:
    spec = config.get("quantization_config") or config.get("compression_config")
    return spec if isinstance(spec, dict) else {}


def quant_method(config: dict) -> str | None:
    """The `quant_method` of a config.json (as a dict), or None for unquantized weights."""
    spec = _spec(config)
    bnb = spec.get("load_in_4bit") or spec.get("load_in_8bit")
    method = str(spec.get("quant_method") or ("bitsandbytes" if bnb else "")).lower()
    return {"compressed_tensors": "compressed-tensors"}.get(method, method) or None


def describe(config: dict) -> str | None:
    """The method as people name it ("bitsandbytes 4-bit", "gptq 4-bit"), or None."""
    method = quant_method(config)
    if method is None:
        return None
    spec = _spec(config)
    bits = 4 if spec.get("load_in_4bit") else 8 if spec.get("load_in_8bit") else spec.get("bits")
    return f"{method} {bits}-bit" if isinstance(bits, int) else method


def missing_packages(method: str) -> list[str]:
    """The pip packages of `method`'s runtime whose modules do not import here (none for methods not listed)."""
    runtime = RUNTIMES.get(method)
    if runtime is None:
        return []
    return [pkg for mod, pkg in zip(runtime.modules, runtime.packages) if importlib.util.find_spec(mod) is None]


def _shortfall(config: dict, device_type: str | None) -> tuple[str, list[str], bool] | None:
    """(method, its missing pip packages, whether it needs a CUDA GPU this run lacks) for a
    checkpoint whose quantized layers cannot run here; None when they can (or it has none).
    `device_type`: the device it would run on, when known ("cpu", "cuda", "mps")."""
    method = quant_method(config)
    if method is None or method in DEQUANTIZED or method not in RUNTIMES:
        return None
    missing = missing_packages(method)
    off_gpu = RUNTIMES[method].cuda and device_type is not None and device_type != "cuda"
    return (method, missing, off_gpu) if missing or off_gpu else None


def quantization_problem(config: dict, *, device_type: str | None = None) -> str | None:
    """Why this machine cannot run the checkpoint's quantized layers (a short phrase), or None."""
    shortfall = _shortfall(config, device_type)
    if shortfall is None:
        return None
    method, missing, _ = shortfall
    needs = [" and ".join(missing)] if missing else []
    return f"{describe(config)} needs " + " and ".join(needs + (["a CUDA GPU"] if RUNTIMES[method].cuda else []))


def check_quantization(config: dict, model: str, *, device_type: str | None = None, int8: bool = False) -> None:
    """Refuse, before loading, a quantized checkpoint this machine cannot run."""
    method = quant_method(config)
    if method is None or method in DEQUANTIZED:
        return
    if int8:
        raise ConfigError(
            f"{model} is already quantized ({describe(config)}); --quantize rounds unquantized weights: leave it out."
        )
    shortfall = _shortfall(config, device_type)
    if shortfall is None:
        return
    _, missing, _ = shortfall
    needs = []
    if missing:
        needs.append(f"{' and '.join(missing)} installed (pip install {' '.join(missing)})")
    if RUNTIMES[method].cuda:
        on = f", and this run is on {device_type}" if device_type not in (None, "cuda") else ""
        needs.append(f"a CUDA GPU{on}")
    raise BackendUnavailableError(
        f"{model} is quantized ({describe(config)}, config.json quantization_config) and vlmcli runs unquantized "
        f"weights: transformers runs {method} layers only with {' and '.join(needs)}; or pass the unquantized model "
        "it was made from (--quantize int8 saves memory)."
    )
