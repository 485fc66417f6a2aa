"""How close each engine stage gets to this machine's limits (the roofline).

    python bench/bench_roofline.py [--threads N] [--dtype float32|bfloat16|auto]

1. Measures the machine: dense matmul throughput (GFLOP/s, float32 and bfloat16, 2048^3
   matmuls) and memory bandwidth (GB/s, copying a 512 MiB tensor).
2. Runs the three stages of the SmolVLM2-256M architecture (random weights): the vision
   tower on one 512 px tile and a 256-token prefill are compute-bound, so they are compared
   with the matmul roofline (FLOPs counted by torch's FlopCounterMode); single-token decode
   at batch 1 is memory-bound, so the bytes it must read per token (all language-model
   weights and the KV cache) are compared with the bandwidth roofline.
"""

from __future__ import annotations

import argparse
import time

import torch


def best_seconds(fn, repeats: int = 3) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_gflops(dtype: torch.dtype, n: int = 2048) -> float:
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    seconds = best_seconds(lambda: torch.mm(a, b))
    return 2 * n**3 / seconds / 1e9


def bandwidth_gbs(mib: int = 512) -> float:
    src = torch.empty(mib * 2**20 // 4, dtype=torch.float32).fill_(1.0)
    dst = torch.empty_like(src)
    seconds = best_seconds(lambda: dst.copy_(src))
    return 2 * src.numel() * 4 / seconds / 1e9  # read + write


def counted_flops(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from transformers import DynamicCache, SmolVLMForConditionalGeneration

    from vlmcli.testing import smolvlm_256m_config

    peak = {"float32": matmul_gflops(torch.float32), "bfloat16": matmul_gflops(torch.bfloat16)}
    bandwidth = bandwidth_gbs()
    print(f"machine: {args.threads} threads; matmul fp32 {peak['float32']:.1f} GFLOP/s, "
          f"bf16 {peak['bfloat16']:.1f} GFLOP/s; memory bandwidth {bandwidth:.1f} GB/s")

    torch.manual_seed(0)
    model = SmolVLMForConditionalGeneration(smolvlm_256m_config()).eval()
    print(f"{'stage':<34}{'dtype':>9}{'seconds':>9}{'achieved':>16}{'roofline':>11}")
    with torch.inference_mode():
        for dtype in (torch.float32, torch.bfloat16):
            name = str(dtype).removeprefix("torch.")
            model.to(dtype)
            size = model.config.vision_config.image_size
            pixels = torch.randn(1, 1, 3, size, size, dtype=dtype)  # (B, tiles, 3, H, W)
            vision = lambda: model.model.get_image_features(pixel_values=pixels)  # noqa: E731
            flops, seconds = counted_flops(vision), best_seconds(vision)
            rate = flops / seconds / 1e9
            print(f"{'vision tower, 1 tile':<34}{name:>9}{seconds:>9.3f}{rate:>11.1f} GF/s{rate / peak[name]:>10.0%}")

            decoder = model.model.text_model
            text = model.config.text_config
            embeds = torch.randn(1, 256, text.hidden_size, dtype=dtype)  # (B, L, D)
            prefill = lambda: decoder(  # noqa: E731
                inputs_embeds=embeds, use_cache=True, past_key_values=DynamicCache(config=text)
            )
            flops, seconds = counted_flops(prefill), best_seconds(prefill)
            rate = flops / seconds / 1e9
            print(f"{'prefill, 256 tokens':<34}{name:>9}{seconds:>9.3f}{rate:>11.1f} GF/s{rate / peak[name]:>10.0%}")

            kv = DynamicCache(config=text)
            decoder(inputs_embeds=embeds, use_cache=True, past_key_values=kv)
            step = embeds[:, -1:]
            steps = 16

            def decode() -> None:
                for _ in range(steps):
                    hidden = decoder(inputs_embeds=step, use_cache=True, past_key_values=kv).last_hidden_state
                    model.lm_head(hidden)
                    kv.crop(-1)  # drop the new token: every step reads a 256-token cache

            seconds = best_seconds(decode) / steps
            weights = sum(p.numel() * p.element_size() for p in decoder.parameters())
            weights += model.lm_head.weight.numel() * model.lm_head.weight.element_size()
            kv_bytes = 2 * text.num_hidden_layers * 256 * text.num_key_value_heads * (
                text.hidden_size // text.num_attention_heads
            ) * embeds.element_size()
            rate = (weights + kv_bytes) / seconds / 1e9
            print(f"{'decode, 1 token (batch 1)':<34}{name:>9}{seconds:>9.3f}{rate:>11.1f} GB/s{rate / bandwidth:>10.0%}")


if __name__ == "__main__":
    main()
