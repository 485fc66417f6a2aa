"""The engine's greedy tokens against transformers' `model.generate`, on a device, per dtype.

    python bench/gpu/parity_cuda.py [--device cuda] [--dtypes float32 bfloat16] [--families ...] [--quick]
                                    [--json-out FILE]

tests/test_engine_parity.py pins `device="cpu"`; this runs its exact cases on any device:
for every family's tiny checkpoint (`vlmcli.testing.build_tiny_checkpoint`), one request
with one photo, then a batch mixing a one-photo and a two-photo request (left padding),
8 new tokens, engine vs `model.generate(do_sample=False)` on the same loaded model.

float32 must be token-identical (the README's promise; on CUDA, TF32 is off for matmuls by
default and both sides run the same kernels). bfloat16 is reported, not required: the
engine's batched prefill and in-place cache round differently from `generate`'s, and a
random tiny model's logits are near-ties, so a flipped argmax is expected now and then;
the row says where the first difference is. Exit code 1 if any float32 case differs or a
family fails to run, so a broken CUDA path is loud.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

NEW_TOKENS = 8  # as tests/test_engine_parity.py
QUICK_FAMILIES = ("smolvlm", "qwen2_5_vl")  # the two families the benches run


def first_difference(a: list[list[int]], b: list[list[int]]) -> str:
    for r, (x, y) in enumerate(zip(a, b)):
        for i in range(max(len(x), len(y))):
            if i >= len(x) or i >= len(y) or x[i] != y[i]:
                return f"row {r} token {i}"
    return "" if len(a) == len(b) else "row count"


def check_family(family: str, folder: Path, device: str, dtype: str) -> dict:
    from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
    from vlmcli.testing import sample_photos
    from vlmcli.testing.reference import hf_greedy

    photos = [ImageInput(p, source=f"photo{i}") for i, p in enumerate(sample_photos())]
    start = time.perf_counter()
    engine = Engine.load(EngineConfig(model=str(folder), device=device, dtype=dtype))
    gen = GenerationConfig(max_tokens=NEW_TOKENS)
    one = Request(prompt="What is in this picture?", images=(photos[0],))
    two = Request(prompt="Which of these two photos is brighter, and why?", images=(photos[1], photos[3]))
    row = {"family": family, "dtype": dtype, "device": str(engine.adapter.model.device)}
    for case, batch in (("single", [one]), ("batch", [one, two])):
        ours = [r.token_ids for r in engine.generate(batch, gen)]
        theirs = hf_greedy(engine, batch, new_tokens=NEW_TOKENS)
        row[case] = ours == theirs
        if ours != theirs:
            row[f"{case}_first_difference"] = first_difference(ours, theirs)
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--families", nargs="+", default=None, help="default: every family (--quick: smolvlm, qwen2_5_vl)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()

    import torch

    from vlmcli.testing import MODEL_TYPES, build_tiny_checkpoint

    families = args.families or (QUICK_FAMILIES if args.quick else MODEL_TYPES)
    rows = []
    with tempfile.TemporaryDirectory(prefix="parity-") as tmp:
        for family in families:
            try:
                folder = build_tiny_checkpoint(family, Path(tmp) / family)
            except Exception as err:  # noqa: BLE001 - one family's failure is a row, not the end
                rows.append({"family": family, "dtype": "-", "error": f"build: {err!r}"[:300]})
                continue
            for dtype in args.dtypes:
                try:
                    row = check_family(family, folder, args.device, dtype)
                except Exception as err:  # noqa: BLE001
                    traceback.print_exc()
                    row = {"family": family, "dtype": dtype, "error": f"{type(err).__name__}: {err}"[:300]}
                rows.append(row)
                ok = "error" not in row and row["single"] and row["batch"]
                detail = row.get("error") or ", ".join(f"{k} {v}" for k, v in row.items() if "first_difference" in k)
                print(f"{family:<16}{dtype:<10}{'equal' if ok else 'DIFFERS' if 'error' not in row else 'ERROR'}"
                      f"  {row.get('seconds', '')} s  {detail}", flush=True)
    fp32 = [r for r in rows if r["dtype"] == "float32"]
    failed = [r for r in rows if "error" in r] + [r for r in fp32 if not (r.get("single") and r.get("batch"))]
    summary = {
        "device": args.device,
        "torch": torch.__version__,
        "rows": rows,
        "float32_all_equal": bool(fp32) and all(r.get("single") and r.get("batch") for r in fp32),
        "bfloat16_equal": sum(1 for r in rows if r["dtype"] == "bfloat16" and r.get("single") and r.get("batch")),
        "bfloat16_cases": sum(1 for r in rows if r["dtype"] == "bfloat16"),
        "errors": sum(1 for r in rows if "error" in r),
    }
    print(f"float32 all equal: {summary['float32_all_equal']}; bfloat16 equal in "
          f"{summary['bfloat16_equal']}/{summary['bfloat16_cases']} families; errors: {summary['errors']}")
    if args.json_out:
        args.json_out.write_text(json.dumps(summary, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
