"""How close each engine stage gets to this machine's limits (the roofline).

    python bench/bench_roofline.py [--threads N] [--rounds R] [--tiles N] [--profile] [--compile] [--decode-batch B]
                                   [--dtypes float32 bfloat16]

Runs the three stages of the SmolVLM2-256M architecture (random weights) and compares each
with the machine's own limit, measured side by side: every round times the machine probe
and then the stage, back to back, and the stage's fraction is taken within the round.
Shared virtual machines drift by 2x over minutes (a 2048^3 matmul measured 159-306
GFLOP/s in one afternoon), so a peak measured once at the start says little about a stage
timed minutes later; the median fraction over the rounds is printed, with the range.

- The vision tower (one 512 px tile; with `--tiles N` also N tiles in one call, as the
  engine sends a photo's tiles: 17 for a square photo at SmolVLM's native 2048 px) and a
  256-token prefill are compute-bound: FLOPs counted by torch's FlopCounterMode, which does
  not know the CPU flash-attention op, so `counted_flops` adds its formula (halved when
  causal); the probe is a float32 (or bfloat16) 2048^3 matmul.
- Single-token decode at batch 1, or `--decode-batch B` (caption-dir decodes 2-4 rows per
  step on a CPU), with the engine's in-place KV cache, is memory-bound: the bytes a step
  must read (the language model's weights but the embedding table, of which it reads one
  row per sequence; the LM head; B KV caches) against
  the probe, a 512 MiB copy. With `--compile` the float32 decode row is also run through the
  engine's `--compile` step (`vlmcli.engine.compiled`, under no_grad; compiling first takes
  minutes on 2 cores and is not timed).
- `--profile` breaks the float32 tower's time down by kind of op, each kind's FLOP rate
  against a matmul probe taken just before.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

GROUPS = {
    "matmul (linear layers)": ("aten::addmm", "aten::mm", "aten::bmm"),
    "attention kernel": ("aten::_scaled_dot_product_flash_attention_for_cpu",),
    "GELU": ("aten::gelu",),
    "copies, adds, layer norms": ("aten::copy_", "aten::add", "aten::native_layer_norm"),
}


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def matmul_probe(dtype: torch.dtype, n: int = 2048) -> Callable[[], float]:
    """A function returning the GFLOP/s of one n^3 matmul (best of two)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    return lambda: 2 * n**3 / min(seconds(lambda: torch.mm(a, b)) for _ in range(2)) / 1e9


def bandwidth_probe(mib: int = 512) -> Callable[[], float]:
    """A function returning the GB/s of copying `mib` MiB (read + write, best of two)."""
    src = torch.empty(mib * 2**20 // 4, dtype=torch.float32).fill_(1.0)
    dst = torch.empty_like(src)
    return lambda: 2 * src.numel() * 4 / min(seconds(lambda: dst.copy_(src)) for _ in range(2)) / 1e9


def cpu_attention_flops(query, key, value, dropout_p=0.0, is_causal=False, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of `aten._scaled_dot_product_flash_attention_for_cpu` (shapes in, as torch's formulas get them)."""
    from torch.utils.flop_counter import sdpa_flop_count

    full = sdpa_flop_count(query, key, value)
    return full // 2 if is_causal else full  # a causal kernel skips the masked half


def flop_counts(fn: Callable[[], object]) -> dict[str, int]:
    """FLOPs of one call of `fn`, by aten op name ("aten::addmm": n)."""
    from torch.utils.flop_counter import FlopCounterMode

    mapping = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: cpu_attention_flops}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        fn()
    return {f"aten::{str(op).removeprefix('aten.').split('.')[0]}": n for op, n in counter.get_flop_counts()["Global"].items()}


def side_by_side(stage: Callable[[], object], work: float, probe: Callable[[], float], rounds: int) -> tuple[float, list[float]]:
    """Best stage seconds and the stage's fraction of the probe's rate, one per round."""
    stage()  # warm-up
    times, fractions = [], []
    for _ in range(rounds):
        limit = probe()
        took = seconds(stage)
        times.append(took)
        fractions.append(work / took / 1e9 / limit)
    return min(times), fractions


def report(label: str, dtype: str, took: float, fractions: list[float], work: float, unit: str) -> None:
    rate = work / took / 1e9
    spread = f"{min(fractions):.0%}-{max(fractions):.0%}"
    print(f"{label:<36}{dtype:>9}{took:>9.3f}{rate:>9.1f} {unit:<7}{statistics.median(fractions):>10.0%}{spread:>11}")


def print_profile(fn: Callable[[], object], *, probe: Callable[[], float]) -> None:
    """Where one call of `fn` spends its time, by kind of op, and each kind's rate against the probe."""
    from torch.profiler import ProfilerActivity, profile

    flops = flop_counts(fn)
    peak = probe()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    self_us = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
    total = sum(self_us.values())
    for group, ops in GROUPS.items():
        us = sum(self_us.get(op, 0.0) for op in ops)
        work = sum(flops.get(op, 0) for op in ops)
        rate = f"{work / us / 1e3:8.1f} GF/s, {work / us / 1e3 / peak:4.0%} of a {peak:.0f} GF/s matmul" if work else ""
        print(f"  {group:<30}{us / total:>5.0%} of the time {rate}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--rounds", type=int, default=5, help="probe + stage rounds per row (multi-tile row: 2)")
    parser.add_argument("--profile", action="store_true", help="break the float32 tower's time down by op")
    parser.add_argument("--tiles", type=int, default=17, help="also time the float32 tower on this many tiles (0: skip)")
    parser.add_argument("--compile", action="store_true", help="also time the float32 decode step under --compile")
    parser.add_argument("--decode-batch", type=int, default=1, help="sequences per decode step")
    parser.add_argument("--dtypes", nargs="+", choices=["float32", "bfloat16"], default=["float32", "bfloat16"],
                        help="dtypes to run (bfloat16 can be 100x slower on CPUs without bf16 or AVX-512 units)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from transformers import SmolVLMForConditionalGeneration

    from vlmcli.engine.kvcache import cache_keyword, growing_cache
    from vlmcli.testing import smolvlm_256m_config

    probes = {"float32": matmul_probe(torch.float32), "bfloat16": matmul_probe(torch.bfloat16)}
    bandwidth = bandwidth_probe()
    peaks = ", ".join(f"{name} {probes[name]():.1f}" for name in args.dtypes)
    print(f"machine: {args.threads} threads; now: matmul {peaks} GFLOP/s; memory bandwidth {bandwidth():.1f} GB/s")

    torch.manual_seed(0)
    model = SmolVLMForConditionalGeneration(smolvlm_256m_config()).eval()
    print(f"{'stage':<36}{'dtype':>9}{'seconds':>9}{'achieved':>17}{'roofline':>10}{'range':>11}")
    with torch.inference_mode():
        for dtype in (getattr(torch, name) for name in args.dtypes):
            name = str(dtype).removeprefix("torch.")
            rounds = args.rounds if dtype is torch.float32 else max(2, args.rounds // 2)
            model.to(dtype)
            size = model.config.vision_config.image_size
            pixels = torch.randn(1, 1, 3, size, size, dtype=dtype)  # (B, tiles, 3, H, W)
            vision = lambda: model.model.get_image_features(pixel_values=pixels)  # noqa: E731
            work = sum(flop_counts(vision).values())
            report("vision tower, 1 tile", name, *side_by_side(vision, work, probes[name], rounds), work, "GF/s")
            if args.profile and dtype is torch.float32:
                print_profile(vision, probe=probes[name])
            if args.tiles > 1 and dtype is torch.float32:
                many = torch.randn(1, args.tiles, 3, size, size, dtype=dtype)  # (B, tiles, 3, H, W)
                tower = lambda: model.model.get_image_features(pixel_values=many)  # noqa: E731
                work = sum(flop_counts(tower).values())
                took, fractions = side_by_side(tower, work, probes[name], 2)
                per_tile = f"vision tower, {args.tiles} tiles (s per tile)"
                report(per_tile, name, took / args.tiles, fractions, work / args.tiles, "GF/s")

            decoder = model.model.text_model
            text = model.config.text_config
            key = cache_keyword(decoder)  # `cache` from transformers 5.24, `past_key_values` before
            embeds = torch.randn(1, 256, text.hidden_size, dtype=dtype)  # (B, L, D)
            prefill = lambda: decoder(  # noqa: E731
                inputs_embeds=embeds, use_cache=True, **{key: growing_cache(text, reserve=64)}
            )
            work = sum(flop_counts(prefill).values())
            report("prefill, 256 tokens", name, *side_by_side(prefill, work, probes[name], rounds), work, "GF/s")

            decode, nbytes = decode_stage(model, batch=args.decode_batch, dtype=dtype, step=decoder)
            took, fractions = decode_side_by_side(decode, nbytes, bandwidth, rounds)
            report(f"decode, 1 token (batch {args.decode_batch})", name, took, fractions, nbytes, "GB/s")
    if args.compile:
        from vlmcli.engine.compiled import CompiledDecoder

        model.to(torch.float32)
        with torch.no_grad():  # what the engine uses under --compile
            step = CompiledDecoder(model.model.text_model, device_type="cpu")
            decode, nbytes = decode_stage(model, batch=args.decode_batch, dtype=torch.float32, step=step)
            start = time.perf_counter()
            decode()
            print(f"(compiling the decode step took {time.perf_counter() - start:.0f} s)")
            took, fractions = decode_side_by_side(decode, nbytes, bandwidth, args.rounds)
            report(f"decode, 1 token (batch {args.decode_batch}), --compile", "float32", took, fractions, nbytes, "GB/s")


DECODE_STEPS = 16


def decode_stage(
    model, *, batch: int, dtype: torch.dtype, step: Callable[..., object]
) -> tuple[Callable[[], None], int]:
    """`DECODE_STEPS` single-token steps of `batch` sequences through `step` on 256-token caches (the
    engine's in-place KV cache, prefilled eagerly), and the bytes one step must read: the language
    model's weights but the embedding table (one row of it per sequence), the LM head, the caches."""
    from vlmcli.engine.kvcache import cache_keyword, growing_cache

    decoder, text = model.model.text_model, model.config.text_config
    key = cache_keyword(decoder)
    prompt = torch.randn(batch, 256, text.hidden_size, dtype=dtype)  # (B, L, D)
    kv = growing_cache(text, reserve=1)
    decoder(inputs_embeds=prompt, use_cache=True, **{key: kv})
    step_embeds = prompt[:, -1:]  # (B, 1, D)

    def decode() -> None:
        for _ in range(DECODE_STEPS):
            hidden = step(inputs_embeds=step_embeds, use_cache=True, **{key: kv}).last_hidden_state
            model.lm_head(hidden)
            kv.crop(-1)  # drop the new token: every step reads a 256-token cache

    nbytes = lambda t: t.numel() * t.element_size()  # noqa: E731
    weights = sum(nbytes(p) for p in decoder.parameters()) + nbytes(model.lm_head.weight)
    weights -= nbytes(decoder.get_input_embeddings().weight)
    head_dim = text.hidden_size // text.num_attention_heads
    kv_bytes = 2 * text.num_hidden_layers * 256 * text.num_key_value_heads * head_dim * step_embeds.element_size() * batch
    return decode, weights + kv_bytes


def decode_side_by_side(decode, nbytes: int, bandwidth, rounds: int) -> tuple[float, list[float]]:
    """Seconds per step and fractions of the copy bandwidth, per round."""
    took, fractions = side_by_side(decode, DECODE_STEPS * nbytes, bandwidth, rounds)
    return took / DECODE_STEPS, fractions


if __name__ == "__main__":
    main()
