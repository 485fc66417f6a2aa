"""Decode step time with transformers' DynamicCache (torch.cat per step) against vlmcli's
in-place cache (`vlmcli.engine.kvcache.growing_cache`), side by side.

    python bench/bench_kvcache.py [--contexts 256 3000] [--steps 24] [--rounds 3]

SmolVLM2-256M's language model (random weights, float32, batch 1): a prefill of C tokens,
then `--steps` single-token steps; each round runs both caches back to back and checks the
hidden states are bit-identical. Prints ms per decode step and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from vlmcli.engine.kvcache import cache_keyword


def decode(decoder, prompt: torch.Tensor, kv, steps: int, *, step=None) -> tuple[torch.Tensor, float]:
    """Hidden states of `steps` decode steps after prefilling `prompt` (with `decoder`), and
    seconds per step; the steps run through `step` (a compiled decoder, say) when given."""
    step = decoder if step is None else step
    key = cache_keyword(decoder)  # `cache` from transformers 5.24, `past_key_values` before
    hidden = decoder(inputs_embeds=prompt, use_cache=True, **{key: kv}).last_hidden_state[:, -1:]
    outs, start = [], time.perf_counter()
    for _ in range(steps):
        hidden = step(inputs_embeds=hidden, use_cache=True, **{key: kv}).last_hidden_state  # (1, 1, D)
        outs.append(hidden)
    return torch.cat(outs), (time.perf_counter() - start) / steps


def smolvlm_language_model():
    """SmolVLM2-256M's language model (random weights, seed 0) and its text config."""
    from transformers import SmolVLMForConditionalGeneration

    from vlmcli.testing import smolvlm_256m_config

    torch.manual_seed(0)
    model = SmolVLMForConditionalGeneration(smolvlm_256m_config()).eval()
    return model.model.text_model, model.config.text_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", type=int, nargs="+", default=[256, 3000])
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from transformers import DynamicCache

    from vlmcli.engine.kvcache import growing_cache

    decoder, text = smolvlm_language_model()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; ms per decode step (median of {args.rounds})")
    print(f"{'context':>8}{'DynamicCache':>14}{'in place':>10}{'speed-up':>10}")
    with torch.inference_mode():
        for context in args.contexts:
            prompt = torch.randn(1, context, text.hidden_size)  # (B, L, D)
            dynamic, growing = [], []
            for _ in range(args.rounds):
                a, ta = decode(decoder, prompt, DynamicCache(config=text), args.steps)
                b, tb = decode(decoder, prompt, growing_cache(text, reserve=args.steps), args.steps)
                assert torch.equal(a, b), "the caches disagree"
                dynamic.append(ta)
                growing.append(tb)
            d, g = statistics.median(dynamic), statistics.median(growing)
            print(f"{context:>8}{d * 1e3:>14.1f}{g * 1e3:>10.1f}{d / g:>9.2f}x")


if __name__ == "__main__":
    main()
