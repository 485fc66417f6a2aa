"""The eager fused int8 decode step against the compiled one (`--quantize int8 --compile`), issue 16.

    python bench/bench_int8_compiled_step.py [--model DIR] [--rounds 3] [--tokens 64] [--photo 1]

SmolVLM2-256M architecture with random weights (built now unless `--model`), one
scikit-image photo, `--tokens` new tokens with EOS ignored, one int8 engine: its eager
fused step (`quantize.decode_step`) and the compiled graph (`quantize.compiled_step`)
take turns as the engine's decode step, round after round, after one untimed compiling
generation. Prints the compile time, decode ms/token of each (median), the ratio, and
greedy agreement between the two (they quantise activations per call and per row, so
tokens may differ; random weights make logits close to ties).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default: SmolVLM2-256M architecture, random, built now)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--photo", type=int, default=1, help="index into vlmcli.testing.sample_photos()")
    args = parser.parse_args()

    import torch

    from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
    from vlmcli.quantize.compiled_step import CompiledInt8Step
    from vlmcli.testing import build_smolvlm_256m_random, sample_photos

    model = args.model or str(build_smolvlm_256m_random(Path(tempfile.mkdtemp()) / "smolvlm-256m"))
    engine = Engine.load(EngineConfig(model=model, device="cpu", dtype="float32", quantize="int8"))
    steps = {"eager fused": engine.step, "compiled": CompiledInt8Step(engine.adapter.decoder, device_type="cpu")}
    request = Request(prompt="What is in this picture?", images=(ImageInput(sample_photos()[args.photo], source="photo"),))
    gen = GenerationConfig(max_tokens=args.tokens, ignore_eos=True)

    def run(name: str) -> tuple[float, list[int]]:
        engine.step = steps[name]
        result = engine.generate([request], gen)[0]
        return result.timings.decode_s / len(result.token_ids) * 1000, result.token_ids

    start = time.perf_counter()
    run("compiled")
    compile_s = time.perf_counter() - start
    times: dict[str, list[float]] = {name: [] for name in steps}
    tokens: dict[str, list[int]] = {}
    for _ in range(args.rounds):
        for name in steps:
            ms, tokens[name] = run(name)
            times[name].append(ms)
    print(f"model: {model}; photo {args.photo}; {args.tokens} tokens (EOS ignored); torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; first compiled generation {compile_s:.1f} s")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(f"{name:12s} decode ms/token {medians[name]:7.2f}   (rounds: {', '.join(f'{v:.2f}' for v in values)})")
    print(f"eager fused / compiled: {medians['eager fused'] / medians['compiled']:.2f}x")
    a, b = tokens["eager fused"], tokens["compiled"]
    prefix = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    print(f"greedy agreement: common prefix {prefix}/{len(a)}, {sum(x == y for x, y in zip(a, b))} positions equal")


if __name__ == "__main__":
    main()
