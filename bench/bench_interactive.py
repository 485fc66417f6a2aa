"""Interactive latency of `vlm ask`: time to first token and total, cold and warm, and the
speed-up a vision-feature cache hit gives the second question about the same image.

    python bench/bench_interactive.py [--model DIR] [--max-tokens 32] [--dtype auto] [--device cpu] [--json-out FILE]

Default model: random weights at the real SmolVLM2-256M size (built into a temp folder).
Rows, measured in one run:
- cold: a fresh process-equivalent (new Engine: load + first question);
- warm, new image: the loaded engine, an image it has not seen;
- warm, cache hit: a second question about that image (the vision tower does not run).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def ask(engine, request, gen) -> tuple[float, float, int]:
    """(time to first token, total seconds, vision-cache hits) for one request."""
    from vlmcli.engine import FinishEvent, TokenEvent

    start = time.perf_counter()
    first = None
    hits = 0
    for event in engine.stream([request], gen):
        if isinstance(event, TokenEvent) and first is None:
            first = time.perf_counter() - start
        if isinstance(event, FinishEvent):
            hits = event.result.vision_cache_hits
    total = time.perf_counter() - start
    return (first if first is not None else total), total, hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto (the engine's choice)")
    parser.add_argument("--max-tiles", type=int, default=1)
    parser.add_argument("--json-out", type=Path, help="also write the rows as JSON (bench/gpu/check.sh collects them)")
    args = parser.parse_args()

    from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
    from vlmcli.testing import build_smolvlm_256m_random, sample_photos
    from vlmcli.tiling import ResolutionPolicy

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.model or build_smolvlm_256m_random(Path(tmp) / "smolvlm-256m")
        config = EngineConfig(
            model=str(folder), device=args.device, dtype=args.dtype, resolution=ResolutionPolicy(max_tiles=args.max_tiles)
        )
        gen = GenerationConfig(max_tokens=args.max_tokens, ignore_eos=True)
        photos = sample_photos()
        rows = []
        start = time.perf_counter()
        engine = Engine.load(config)
        load_s = time.perf_counter() - start
        first, total, _ = ask(engine, Request(prompt="What is this?", images=(ImageInput(photos[0]),)), gen)
        rows.append(("cold (load + ask)", load_s + first, load_s + total, 0))
        image = ImageInput(photos[1])
        first, total, hits = ask(engine, Request(prompt="What is in this picture?", images=(image,)), gen)
        rows.append(("warm, new image", first, total, hits))
        miss_first = first
        first, total, hits = ask(engine, Request(prompt="What colour is the cup?", images=(image,)), gen)
        rows.append(("warm, cache hit", first, total, hits))
        hit_first = first
    print(f"model {folder}, device {args.device}, dtype {args.dtype}, {args.max_tokens} new tokens, "
          f"max_tiles {args.max_tiles}")
    print(f"{'case':<20}{'first token s':>15}{'total s':>10}{'cache hits':>12}")
    for name, first, total, hits in rows:
        print(f"{name:<20}{first:>15.3f}{total:>10.3f}{hits:>12}")
    print(f"cache hit: first token {miss_first / hit_first:.1f}x sooner than with a new image")
    if args.json_out:
        import json

        args.json_out.write_text(json.dumps({
            "model": str(folder), "device": args.device, "dtype": args.dtype, "max_tokens": args.max_tokens,
            "max_tiles": args.max_tiles, "cache_hit_first_token_speedup": miss_first / hit_first,
            "rows": [{"case": n, "first_token_s": f, "total_s": t, "cache_hits": h} for n, f, t, h in rows],
        }, indent=1))


if __name__ == "__main__":
    main()
