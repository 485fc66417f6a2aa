"""`--quantize int8` against float32 on the real SmolVLM2-256M architecture (issue 16).

    python bench/bench_quantize.py [--rounds 3] [--tokens 64] [--photo 1] [--max-tiles N]

Random weights at the real size (vlmcli.testing, no download); one scikit-image photo
through the engine (all tiles by default: 17 tower calls of 512 px for a landscape photo),
64 new tokens with EOS ignored. The two engines are loaded once and run alternately,
round after round, so load hits both alike. Prints per stage: vision ms per tile,
prefill s, decode ms per token, whole request s, the ratio float32 / int8 (> 1: int8
faster), the quantisation time at load, and greedy agreement with float32 over the
tokens (the longest common prefix, and positions equal; random weights make logits close
to ties, so this is a floor for a trained model).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--photo", type=int, default=1, help="index into vlmcli.testing.sample_photos()")
    parser.add_argument("--max-tiles", type=int, default=None)
    parser.add_argument("--model", help="model folder (default: SmolVLM2-256M architecture, random, built now)")
    args = parser.parse_args()

    import torch

    from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
    from vlmcli.quantize.int8_linear import cpu_flags, full_range_ok
    from vlmcli.testing import build_smolvlm_256m_random, sample_photos
    from vlmcli.tiling import ResolutionPolicy

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.model or str(build_smolvlm_256m_random(Path(tmp) / "smolvlm-256m"))
        photo = sample_photos()[args.photo]
        request = Request(prompt="Describe this image.", images=(ImageInput(photo, source=f"photo{args.photo}"),))
        gen = GenerationConfig(max_tokens=args.tokens, ignore_eos=True)
        engines = {}
        for mode in ("none", "int8"):
            config = EngineConfig(
                model=folder, device="cpu", dtype="float32", quantize=mode, feature_cache_entries=0,
                resolution=ResolutionPolicy(max_tiles=args.max_tiles),
            )
            engines[mode] = Engine.load(config)
            engines[mode].generate([request], GenerationConfig(max_tokens=2))  # warm-up
        report = engines["int8"].loaded.quantization
        print(f"model: {folder}; photo {args.photo} {photo.size}; {args.tokens} new tokens (EOS ignored)")
        print(
            f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, VNNI full-range int8: {full_range_ok(cpu_flags())}"
        )
        print(
            f"int8: {sum(report.layers.values())} linear layers {report.layers}, "
            f"{report.float_bytes / 2**20:.0f} -> {report.int8_bytes / 2**20:.0f} MiB of weights, "
            f"quantised in {report.seconds:.2f} s at load"
        )
        stages: dict[str, dict[str, list[float]]] = {mode: {} for mode in engines}
        tokens: dict[str, list[int]] = {}
        tiles = 0
        for _ in range(args.rounds):
            for mode, engine in engines.items():
                result = engine.generate([request], gen)[0]
                t = result.timings
                grid = result.images[0].grid
                tiles = grid[0] * grid[1] + (1 if grid[0] * grid[1] > 1 else 0)  # Idefics3: the tiles + a global view
                calls = tiles
                row = stages[mode]
                row.setdefault("vision ms/tile", []).append(1000 * t.vision_s / calls)
                row.setdefault("prefill s", []).append(t.prefill_s)
                row.setdefault("decode ms/token", []).append(1000 * t.decode_s / max(1, len(result.token_ids) - 1))
                row.setdefault("request s", []).append(t.vision_s + t.prefill_s + t.decode_s)
                tokens[mode] = result.token_ids
        print(f"\n{'stage':<18}{'float32':>10}{'int8':>10}{'fp32/int8':>11}   (median of {args.rounds} rounds; {tiles} tiles)")
        for stage in stages["none"]:
            a, b = statistics.median(stages["none"][stage]), statistics.median(stages["int8"][stage])
            print(f"{stage:<18}{a:>10.2f}{b:>10.2f}{a / b:>10.2f}x")
        same = sum(x == y for x, y in zip(tokens["none"], tokens["int8"]))
        prefix = next((i for i, (x, y) in enumerate(zip(tokens["none"], tokens["int8"])) if x != y), len(tokens["none"]))
        print(f"\ngreedy agreement with float32: common prefix {prefix}/{len(tokens['none'])} tokens, {same} positions equal")


if __name__ == "__main__":
    main()
