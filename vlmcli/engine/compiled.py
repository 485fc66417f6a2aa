"""An opt-in compiled decode step (`--compile`): the language model through `torch.compile`.

A decode step of a small model is many small operators: at batch 1 on a CPU a third of a
SmolVLM2-256M step is the ~2,500 eager launches of a 30-layer decoder, not the weights
streaming through the GEMVs (profile in bench/RESULTS.md, "Decode KV cache"). Inductor
fuses them into a few generated kernels: 1.2-1.5x faster per step on 2 cores
(`bench/bench_decode_compile.py`, `bench/bench_roofline.py --compile`). The price is paid once per engine, at the first
requests: compiling takes minutes on a small CPU (dynamo recompiles a few times as the
cache length and the batch size first change, then keeps them symbolic), so this is for
long jobs, not for one `vlm ask`.

What changes and what does not:
- only the decode steps are compiled; vision encoding and the prefill stay eager;
- compiled kernels reorder float arithmetic, so logits are close to the eager ones, not
  bit-identical (`LOGIT_TOLERANCE`; tests/test_engine_compile.py checks both the tokens and
  the logits against eager);
- the whole generation then runs under `torch.no_grad` instead of `torch.inference_mode`
  (inductor cannot trace the decoder on inference tensors in torch 2.14).

Inductor turns graphs into C++ on a CPU, so `--compile` needs a C++ compiler there; its
absence is a `ConfigError` up front, never a silent fall back to eager. A decoder that would
recompile more often than `RECOMPILE_LIMIT` (dynamo would otherwise quietly run it eagerly)
or that inductor fails to compile is a `ModelError`.
"""

from __future__ import annotations

import logging
import os
import shutil
from typing import Any

from vlmcli.errors import ConfigError, ModelError

LOGIT_TOLERANCE = 1e-3
"""Largest absolute difference between compiled and eager float32 logits that the tests accept
(observed: ~3e-5 on hidden states of SmolVLM2-256M, ~1e-6 on the tiny checkpoints)."""

RECOMPILE_LIMIT = 64
"""Recompiles allowed per decoder before it is an error (a few are expected as shapes first change)."""

_CXX_CANDIDATES = ("g++", "c++", "clang++")


def cxx_compiler() -> str | None:
    """The C++ compiler inductor would use on a CPU ($CXX first), or None."""
    names = (os.environ["CXX"],) if os.environ.get("CXX") else _CXX_CANDIDATES
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def check_can_compile(device_type: str) -> None:
    """Raise ConfigError when `torch.compile` cannot produce kernels for `device_type` here."""
    if device_type == "cpu" and cxx_compiler() is None:
        raise ConfigError(
            "--compile needs a C++ compiler on a CPU (inductor generates C++): install g++ or clang++, "
            "set $CXX, or drop --compile."
        )
    if device_type == "mps":
        raise ConfigError("--compile is not supported on mps; drop --compile.")


class CompiledDecoder:
    """The adapter's decoder behind `torch.compile`, built on the first call (compilation is lazy)."""

    inference_mode = False
    """inductor cannot trace inference tensors: generation runs under `torch.no_grad` instead."""
    compiled = True

    def __init__(self, decoder: Any, *, device_type: str) -> None:
        check_can_compile(device_type)
        self.decoder = decoder
        self._compiled: Any = None

    def __call__(self, **kwargs: Any) -> Any:
        import torch

        if self._compiled is None:
            self._compiled = torch.compile(self.decoder, dynamic=True)
        return run_compiled(self._compiled, **kwargs)


def run_compiled(compiled: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a `torch.compile`d callable, turning dynamo's give-ups into one-line `ModelError`s."""
    import torch._dynamo

    # on a CPU-only machine inductor logs "No CUDA runtime is found" while compiling: noise for the user
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    try:
        with torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT, fail_on_recompile_limit_hit=True):
            return compiled(*args, **kwargs)
    except torch._dynamo.exc.FailOnRecompileLimitHit:
        raise ModelError(
            f"--compile: the decoder needed more than {RECOMPILE_LIMIT} recompilations (its input shapes "
            "keep changing); run without --compile."
        ) from None
    except torch._dynamo.exc.BackendCompilerFailed as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"--compile: torch.compile failed on this model ({first}); run without --compile.") from None
