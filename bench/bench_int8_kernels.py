"""Which int8 (and bf16) kernels win on this CPU, for the shapes vlmcli's models multiply (issue 16).

    python bench/bench_int8_kernels.py [--rounds 3] [--no-torchao]

Shapes (SmolVLM2-256M): the language model's MLP up-projection 576 -> 1536 at M = 1 and 8
rows (decode: 30 distinct matrices, more than the L3, so weights stream as in a real step)
and at M = 1024 (prefill); the vision tower's MLP 768 -> 3072 at M = 1024 (one 512-px tile).
Ways, interleaved round by round so load hits them alike:

- `fp32`: `F.linear` in float32 (what runs today);
- `bf16`: `F.linear` in bfloat16 (AVX-512 BF16 where the CPU has it);
- `ao-dynamic[engine]`: torch.ao dynamic quantised Linear (int8 weights, per-tensor int8
  activations quantised per call) on the x86 / fbgemm / onednn engines;
- `int8pack-wo`: `torch._weight_int8pack_mm`, weight-only int8 (per output channel), float
  activations;
- `int_mm-dyn`: per-row int8 activations x per-channel int8 weights with `torch._int_mm`
  (int32 accumulate), rescaled in float;
- `torchao-wo` / `torchao-dyn`: torchao's `Int8WeightOnlyConfig` and
  `Int8DynamicActivationInt8WeightConfig` (when torchao is installed).

Prints microseconds per matrix, speed against fp32 in the same round, and the error
against fp32 (max |y - y_fp32| / std(y_fp32)).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

SHAPES = {  # name -> (M, in, out, distinct matrices)
    "decode M=1 576->1536": (1, 576, 1536, 30),
    "decode M=8 576->1536": (8, 576, 1536, 30),
    "prefill M=1024 576->1536": (1024, 576, 1536, 4),
    "vision M=1024 768->3072": (1024, 768, 3072, 4),
}


def quantize_rows(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per row: (q (R, C) int8, scale (R,) float)."""
    scale = t.abs().amax(dim=1).clamp(min=1e-8) / 127.0  # (R,)
    return (t / scale[:, None]).round().clamp(-127, 127).to(torch.int8), scale


def int_mm_dynamic(x: torch.Tensor, wq_t: torch.Tensor, w_scale: torch.Tensor) -> torch.Tensor:
    xq, x_scale = quantize_rows(x)  # (M, K) int8, (M,)
    if xq.shape[0] <= 16:  # _int_mm wants M > 16 on some builds: pad
        pad = torch.zeros(17 - xq.shape[0], xq.shape[1], dtype=torch.int8)
        acc = torch._int_mm(torch.cat([xq, pad]), wq_t)[: xq.shape[0]]  # (M, N) int32
    else:
        acc = torch._int_mm(xq, wq_t)  # (M, N) int32
    return acc.float() * x_scale[:, None] * w_scale[None, :]


def ways(weights: list[torch.Tensor], x: torch.Tensor, *, use_torchao: bool) -> dict[str, Callable[[int], torch.Tensor]]:
    """name -> call(i) computing layer i's product."""
    out: dict[str, Callable[[int], torch.Tensor]] = {}
    out["fp32"] = lambda i: F.linear(x, weights[i])
    wb = [w.to(torch.bfloat16) for w in weights]
    xb = x.to(torch.bfloat16)
    out["bf16"] = lambda i: F.linear(xb, wb[i]).float()
    for engine in ("x86", "fbgemm", "onednn"):
        if engine not in torch.backends.quantized.supported_engines:
            continue
        torch.backends.quantized.engine = engine
        mods = []
        for w in weights:
            lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
            lin.weight.data = w
            mods.append(torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(lin), {torch.nn.Linear}, dtype=torch.qint8))

        def run(i: int, mods=mods, engine=engine) -> torch.Tensor:
            torch.backends.quantized.engine = engine
            return mods[i](x)

        out[f"ao-dynamic[{engine}]"] = run
    packed = [quantize_rows(w) for w in weights]
    out["int8pack-wo"] = lambda i: torch._weight_int8pack_mm(x, packed[i][0], packed[i][1])
    transposed = [(q.t().contiguous(), s) for q, s in packed]
    out["int_mm-dyn"] = lambda i: int_mm_dynamic(x, transposed[i][0], transposed[i][1])
    if use_torchao:
        try:
            from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig, quantize_
        except ImportError:
            print("torchao: not installed, skipped")
        else:
            for name, config in (("torchao-wo", Int8WeightOnlyConfig), ("torchao-dyn", Int8DynamicActivationInt8WeightConfig)):
                mods = []
                for w in weights:
                    lin = torch.nn.Sequential(torch.nn.Linear(w.shape[1], w.shape[0], bias=False))
                    lin[0].weight.data = w.clone()
                    quantize_(lin, config())
                    mods.append(lin)
                out[name] = lambda i, mods=mods: mods[i](x)
    return out


def timed_us(fn: Callable[[int], torch.Tensor], layers: int, repeats: int) -> float:
    for i in range(layers):
        fn(i)
    start = time.perf_counter()
    for _ in range(repeats):
        for i in range(layers):
            fn(i)
    return (time.perf_counter() - start) / repeats / layers * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-torchao", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, cpu capability {torch.backends.cpu.get_cpu_capability()}, threads {torch.get_num_threads()}")
    for shape, (rows, fan_in, fan_out, layers) in SHAPES.items():
        weights = [torch.randn(fan_out, fan_in) / fan_in**0.5 for _ in range(layers)]
        x = torch.randn(rows, fan_in)
        with torch.inference_mode():
            candidates = ways(weights, x, use_torchao=not args.no_torchao)
            reference = F.linear(x, weights[0])
            errors = {name: float((fn(0).float() - reference).abs().max() / reference.std()) for name, fn in candidates.items()}
            repeats = 20 if rows <= 8 else 2
            times: dict[str, list[float]] = {name: [] for name in candidates}
            ratios: dict[str, list[float]] = {name: [] for name in candidates}
            for _ in range(args.rounds):
                base = timed_us(candidates["fp32"], layers, repeats)
                for name, fn in candidates.items():
                    us = base if name == "fp32" else timed_us(fn, layers, repeats)
                    times[name].append(us)
                    ratios[name].append(base / us)
        print(f"\n{shape}  ({layers} matrices, {args.rounds} rounds, median)")
        print(f"  {'way':<20} {'us/matrix':>10} {'x fp32':>8} {'error':>8}")
        for name in candidates:
            print(
                f"  {name:<20} {statistics.median(times[name]):>10.1f} {statistics.median(ratios[name]):>8.2f} {errors[name]:>8.4f}"
            )
        del candidates, weights


if __name__ == "__main__":
    main()
