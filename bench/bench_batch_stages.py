"""Where batching's time goes: the engine's own stage timings at batch 1 against batch N.

    python bench/bench_batch_stages.py --model DIR [--images 6] [--batch 3] [--tokens 64]

Runs the same photos (the bulk-captioning bench's crops and flips) through one loaded
Engine twice, one request per call and then N per call, and prints the summed vision,
prefill and decode seconds of each, so a batching gain or loss can be pinned to a stage.
The vision-feature cache is off, so both passes encode every image.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_caption_dir import make_images  # noqa: E402


def run(engine, requests, gen, *, batch: int) -> dict[str, float]:
    totals = {"vision": 0.0, "prefill": 0.0, "decode": 0.0, "wall": 0.0}
    for lo in range(0, len(requests), batch):
        start = time.perf_counter()
        results = engine.generate(requests[lo : lo + batch], gen)
        totals["wall"] += time.perf_counter() - start
        t = results[0].timings  # one call: every result carries the batch's stage times
        totals["vision"] += t.vision_s
        totals["prefill"] += t.prefill_s
        totals["decode"] += t.decode_s
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--batch", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()

    from vlmcli.engine import Engine, EngineConfig, GenerationConfig, Request
    from vlmcli.media.images import load_image

    engine = Engine.load(EngineConfig(model=args.model, device="cpu", dtype="float32", feature_cache_entries=0))
    gen = GenerationConfig(max_tokens=args.tokens, ignore_eos=True)
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_images(Path(tmp), args.images)
        requests = [Request(prompt="Describe this image in one or two sentences.", images=(load_image(p),)) for p in paths]
        rows = [(b, run(engine, requests, gen, batch=b)) for b in (1, args.batch)]
    print(f"model {args.model}, {args.images} photos, {args.tokens} new tokens, float32, stage seconds summed")
    print(f"{'batch':>5}{'vision':>9}{'prefill':>9}{'decode':>9}{'wall':>9}")
    for b, t in rows:
        print(f"{b:>5}{t['vision']:>9.1f}{t['prefill']:>9.1f}{t['decode']:>9.1f}{t['wall']:>9.1f}")
    (_, one), (_, many) = rows
    print("batch / single: " + ", ".join(f"{k} {many[k] / one[k]:.2f}x" for k in one if one[k] > 0))


if __name__ == "__main__":
    main()
