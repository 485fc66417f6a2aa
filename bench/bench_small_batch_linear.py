"""Why decode at batch 2-8 is far from the bandwidth roofline on a CPU: the linear layers at small M.

    python bench/bench_small_batch_linear.py [--rounds 5] [--batches 1 2 4 8] [--decoder]

A decode step multiplies B rows (one per sequence) by every weight matrix of the language
model, so the weights should stream once per step whatever B is and a batch-4 step should
cost about a batch-1 step. This bench times SmolVLM2-256M's MLP up-projection shape
(576 -> 1536, float32), 30 distinct matrices (one per layer, 106 MB: more than the L3, as
in a real step), for each B and several ways of computing it, interleaved round by round:

- `F.linear(x, W)`: what the model does (x (B, 576), W (1536, 576));
- `W @ x.T`: the same product with the weight as the left operand (not bit-identical);
- `mkl packed`: MKL's packed-weight GEMM that inductor uses when it freezes weights
  (`torch.ops.mkl._mkl_linear`, packing done once, outside the timing);
- `B x mv`: one matrix-vector product per row.

Prints microseconds per matrix, the weights' streaming rate (GB/s), the time against
`F.linear` at B = 1, and whether each way gives `F.linear`'s bits. `--decoder` also times
whole decode steps of SmolVLM2-256M's language model (256-token context, in-place cache)
with every linear layer computed as `F.linear` and as `W @ x.T`, interleaved.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F

LAYERS, IN, OUT = 30, 576, 1536


def per_matrix_us(fn: Callable[[], object], repeats: int = 10) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats / LAYERS * 1e6


def ways(weights: list[torch.Tensor], x: torch.Tensor) -> dict[str, tuple[Callable[[], object], torch.Tensor]]:
    """name -> (the timed call over all layers, its output on the first layer, (B, OUT))."""
    rows = x.shape[0]
    xt = x.t().contiguous()  # (IN, B)
    packed = [torch.ops.mkl._mkl_reorder_linear_weight(w, rows) for w in weights]
    first = weights[0]
    return {
        "F.linear": (lambda: [F.linear(x, w) for w in weights], F.linear(x, first)),
        "W @ x.T": (lambda: [w @ xt for w in weights], (first @ xt).t()),
        "mkl packed": (
            lambda: [torch.ops.mkl._mkl_linear(x, p, w, None, rows) for w, p in zip(weights, packed)],
            torch.ops.mkl._mkl_linear(x, packed[0], first, None, rows),
        ),
        "B x mv": (
            lambda: [[torch.mv(w, row) for row in x] for w in weights],
            torch.stack([torch.mv(first, row) for row in x]),
        ),
    }


@contextlib.contextmanager
def weight_left_linears() -> Iterator[None]:
    """Every `nn.Linear` on a (B <= 8, 1, IN) input computes `W @ x.T` instead of `F.linear`."""
    plain = torch.nn.Linear.forward

    def forward(self: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[1] != 1 or x.shape[0] > 8:
            return plain(self, x)
        y = (self.weight @ x[:, 0].t()).t()[:, None]  # (B, 1, OUT)
        return y if self.bias is None else y + self.bias

    torch.nn.Linear.forward = forward
    try:
        yield
    finally:
        torch.nn.Linear.forward = plain


def decoder_steps(batches: list[int], rounds: int) -> None:
    """ms per decode step of the real-size language model, `F.linear` against `W @ x.T`."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.bench_kvcache import decode, smolvlm_language_model
    from vlmcli.engine.kvcache import growing_cache

    decoder, text = smolvlm_language_model()
    for rows in batches:
        prompt = torch.randn(rows, 256, text.hidden_size)  # (B, L, D)
        plain, left = [], []
        with torch.inference_mode():
            for _ in range(rounds):
                plain.append(decode(decoder, prompt, growing_cache(text, reserve=16), 16)[1])
                with weight_left_linears():
                    left.append(decode(decoder, prompt, growing_cache(text, reserve=16), 16)[1])
        a, b = statistics.median(plain), statistics.median(left)
        print(f"decode step, batch {rows}: F.linear {a * 1e3:.1f} ms, W @ x.T {b * 1e3:.1f} ms, {a / b:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--decoder", action="store_true", help="also time whole decode steps both ways")
    args = parser.parse_args()
    torch.manual_seed(0)
    weights = [torch.randn(OUT, IN) for _ in range(LAYERS)]  # each (OUT, IN)
    cases = {}
    for rows in args.batches:
        x = torch.randn(rows, IN)  # (B, IN)
        for name, (fn, out) in ways(weights, x).items():
            cases[(rows, name)] = (fn, torch.equal(out, F.linear(x, weights[0])))
    times: dict[tuple[int, str], list[float]] = {key: [] for key in cases}
    for _ in range(args.rounds):
        for key, (fn, _) in cases.items():
            times[key].append(per_matrix_us(fn))
    smallest = min(args.batches)
    base = statistics.median(times[(smallest, "F.linear")])
    nbytes = OUT * IN * 4
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {LAYERS} x ({OUT}, {IN}) float32, "
          f"median of {args.rounds} interleaved rounds")
    print(f"{'B':>3}  {'way':<12}{'us / matrix':>12}{'GB/s':>7}{f'vs F.linear B={smallest}':>17}  bits of F.linear")
    for (rows, name), values in times.items():
        us = statistics.median(values)
        same = "yes" if cases[(rows, name)][1] else "no"
        print(f"{rows:>3}  {name:<12}{us:>12.0f}{nbytes / us / 1e3:>7.1f}{us / base:>16.2f}x  {same}")
    if args.decoder:
        decoder_steps(args.batches, max(3, args.rounds // 2))


if __name__ == "__main__":
    main()
