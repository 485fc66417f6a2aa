"""Eager decode steps against an inductor-compiled decoder (the next step for decode overhead).

    python bench/bench_decode_compile.py [--context 256] [--steps 24] [--rounds 3] [--batches 1 4]

SmolVLM2-256M's language model (random weights, float32) with the engine's in-place KV
cache: for each batch size, a prefill of `--context` tokens, then `--steps` single-token
steps, eager and through the engine's `--compile` step (`vlmcli.engine.compiled`, i.e.
`torch.compile(dynamic=True)`) back to back in each round, after one compiled warm-up pass
of the same length (dynamo recompiles during the first steps as the cache grows and the
batch size changes, so a shorter warm-up would leave compile time in the rounds). Prints
the one-off warm-up time, ms per step, the ratio, and the largest difference of the hidden
states (compiled kernels reorder float arithmetic, so outputs are close, not
bit-identical). Under `torch.inference_mode` inductor fails on this model (torch 2.14),
hence `torch.no_grad`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_kvcache import decode as kvcache_decode  # noqa: E402
from bench.bench_kvcache import smolvlm_language_model  # noqa: E402


def decode(fn, decoder, prompt: torch.Tensor, text, steps: int) -> tuple[torch.Tensor, float]:
    """`steps` steps through `fn` after a prefill, with the engine's in-place cache."""
    from vlmcli.engine.kvcache import growing_cache

    return kvcache_decode(decoder, prompt, growing_cache(text, reserve=steps), steps, step=fn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, nargs="+", default=[1])
    args = parser.parse_args()
    from vlmcli.engine.compiled import CompiledDecoder

    decoder, text = smolvlm_language_model()
    compiled = CompiledDecoder(decoder, device_type="cpu")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; context {args.context}, {args.steps} steps")
    for batch in args.batches:
        prompt = torch.randn(batch, args.context, text.hidden_size)  # (B, L, D)
        with torch.no_grad():
            start = time.perf_counter()
            decode(compiled, decoder, prompt, text, args.steps)  # compiles, and recompiles as shapes change
            warm = time.perf_counter() - start
            eager, fast, diff = [], [], 0.0
            for _ in range(args.rounds):
                a, ta = decode(decoder, decoder, prompt, text, args.steps)
                b, tb = decode(compiled, decoder, prompt, text, args.steps)
                eager.append(ta)
                fast.append(tb)
                diff = max(diff, (a - b).abs().max().item())
        e, f = statistics.median(eager), statistics.median(fast)
        print(f"batch {batch}: first compiled pass {warm:.1f} s; ms per step (median of {args.rounds}): "
              f"eager {e * 1e3:.1f}, compiled {f * 1e3:.1f}, {e / f:.2f}x; largest hidden-state difference {diff:.1e}")


if __name__ == "__main__":
    main()
