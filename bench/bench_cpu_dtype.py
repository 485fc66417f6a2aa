"""CPU dtype choice: float32, bfloat16 and vlmcli's mixed AUTO on the real SmolVLM2-256M architecture.

Random weights at the real size (vlmcli.testing), so no download. Two parts, side by side
in one run:
1. stages: the vision tower on one 512 px tile, a 256-token prefill, and 32 single-token
   decode steps with a KV cache, in float32 and bfloat16 (ratio > 1 means bf16 is slower);
2. end to end through the engine: one photo (--max-tiles 1: one tile plus the global
   view), 64 new tokens with EOS ignored, for --dtype float32, bfloat16 and auto (mixed:
   float32 vision tower, bfloat16 language model).

    python bench/bench_cpu_dtype.py [--threads N] [--repeats R] [--skip-engine]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def stages(model, dtype: torch.dtype, repeats: int) -> dict[str, float]:
    from transformers import DynamicCache

    from vlmcli.engine.kvcache import cache_keyword

    model = model.to(dtype)
    vision_size = model.config.vision_config.image_size
    pixels = torch.randn(1, 1, 3, vision_size, vision_size, dtype=dtype)  # (B, tiles, 3, H, W)
    decoder = model.model.text_model
    key = cache_keyword(decoder)  # `cache` from transformers 5.24, `past_key_values` before
    embeds = torch.randn(1, 256, model.config.text_config.hidden_size, dtype=dtype)  # (B, L, D)

    def vision():
        model.model.get_image_features(pixel_values=pixels)

    def prefill():
        decoder(inputs_embeds=embeds, use_cache=True, **{key: DynamicCache(config=model.config.text_config)})

    def decode():
        kv = DynamicCache(config=model.config.text_config)
        decoder(inputs_embeds=embeds, use_cache=True, **{key: kv})
        step = embeds[:, -1:]
        for _ in range(32):
            hidden = decoder(inputs_embeds=step, use_cache=True, **{key: kv}).last_hidden_state
            model.lm_head(hidden)

    with torch.inference_mode():
        v = best_of(vision, repeats)
        p = best_of(prefill, repeats)
        d = best_of(decode, max(1, repeats // 2)) - p
    return {"vision_s": v, "prefill_s": p, "decode_32_s": d}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-engine", action="store_true", help="only the per-stage part")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from transformers import SmolVLMForConditionalGeneration

    from vlmcli.testing import smolvlm_256m_config

    torch.manual_seed(0)
    model = SmolVLMForConditionalGeneration(smolvlm_256m_config()).eval()
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"model: SmolVLM2-256M architecture, random weights, {params:.0f}M parameters")
    print(f"machine: {platform.processor() or platform.machine()}, torch threads {args.threads}, torch {torch.__version__}")
    fp32 = stages(model, torch.float32, args.repeats)
    bf16 = stages(model, torch.bfloat16, args.repeats)
    print(f"{'stage':<12}{'float32 s':>12}{'bfloat16 s':>12}{'bf16/fp32':>12}")
    for key in fp32:
        print(f"{key:<12}{fp32[key]:>12.3f}{bf16[key]:>12.3f}{bf16[key] / fp32[key]:>12.2f}")
    if not args.skip_engine:
        del model
        end_to_end()


def end_to_end() -> None:
    import tempfile
    from pathlib import Path

    from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
    from vlmcli.testing import build_smolvlm_256m_random, sample_photos
    from vlmcli.tiling import ResolutionPolicy

    with tempfile.TemporaryDirectory() as tmp:
        folder = build_smolvlm_256m_random(Path(tmp) / "smolvlm-256m")
        request = Request(prompt="Describe this image.", images=(ImageInput(sample_photos()[1]),))
        gen = GenerationConfig(max_tokens=64, ignore_eos=True)
        rows = {}
        for dtype in ("float32", "bfloat16", "auto"):
            config = EngineConfig(model=str(folder), device="cpu", dtype=dtype, feature_cache_entries=0,
                                  resolution=ResolutionPolicy(max_tiles=1))
            engine = Engine.load(config)
            engine.generate([request], GenerationConfig(max_tokens=2))  # warm-up
            t = engine.generate([request], gen)[0].timings
            rows[dtype] = (t.vision_s, t.prefill_s, t.decode_s, t.vision_s + t.prefill_s + t.decode_s)
            del engine
    print("\nend to end (1 photo, 2 encoder tiles, 64 new tokens):")
    print(f"{'dtype':<10}{'vision s':>10}{'prefill s':>11}{'decode s':>10}{'total s':>10}{'vs fp32':>9}")
    for dtype, (v, p, d, total) in rows.items():
        print(f"{dtype:<10}{v:>10.2f}{p:>11.2f}{d:>10.2f}{total:>10.2f}{rows['float32'][3] / total:>8.2f}x")


if __name__ == "__main__":
    main()
