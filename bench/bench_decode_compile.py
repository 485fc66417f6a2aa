"""Eager decode steps against an inductor-compiled decoder (the next step for decode overhead).

    python bench/bench_decode_compile.py [--context 256] [--steps 24] [--rounds 3]

SmolVLM2-256M's language model (random weights, float32, batch 1) with the engine's in-place
KV cache: a prefill of `--context` tokens, then `--steps` single-token steps, eager and
`torch.compile(dynamic=True)` back to back in each round. Prints the one-off compile time,
ms per step, the ratio, and the largest difference of the hidden states (compiled kernels
reorder float arithmetic, so outputs are close, not bit-identical). Under
`torch.inference_mode` inductor fails on this model (torch 2.14), hence `torch.no_grad`.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def decode(fn, decoder, prompt: torch.Tensor, text, steps: int) -> tuple[torch.Tensor, float]:
    from vlmcli.engine.kvcache import growing_cache

    kv = growing_cache(text, reserve=steps)
    hidden = decoder(inputs_embeds=prompt, use_cache=True, past_key_values=kv).last_hidden_state[:, -1:]
    outs, start = [], time.perf_counter()
    for _ in range(steps):
        hidden = fn(inputs_embeds=hidden, use_cache=True, past_key_values=kv).last_hidden_state  # (1, 1, D)
        outs.append(hidden)
    return torch.cat(outs), (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from transformers import SmolVLMForConditionalGeneration

    from vlmcli.testing import smolvlm_256m_config

    torch.manual_seed(0)
    model = SmolVLMForConditionalGeneration(smolvlm_256m_config()).eval()
    decoder, text = model.model.text_model, model.config.text_config
    prompt = torch.randn(1, args.context, text.hidden_size)  # (B, L, D)
    with torch.no_grad():
        compiled = torch.compile(decoder, dynamic=True)
        start = time.perf_counter()
        decode(compiled, decoder, prompt, text, 2)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; compile: {time.perf_counter() - start:.1f} s")
        eager, fast, diff = [], [], 0.0
        for _ in range(args.rounds):
            a, ta = decode(decoder, decoder, prompt, text, args.steps)
            b, tb = decode(compiled, decoder, prompt, text, args.steps)
            eager.append(ta)
            fast.append(tb)
            diff = max(diff, (a - b).abs().max().item())
    e, f = statistics.median(eager), statistics.median(fast)
    print(f"ms per step (median of {args.rounds}): eager {e * 1e3:.1f}, compiled {f * 1e3:.1f}, "
          f"{e / f:.2f}x; largest hidden-state difference {diff:.1e}")


if __name__ == "__main__":
    main()
