"""Dataset inputs at scale: throughput and peak memory of `vlm caption-dir` on a generated
WebDataset, at two sizes, to show memory does not grow with the dataset.

    python bench/bench_datasets.py [--sizes 1000,20000] [--shard-size 1000] [--model DIR] [--json-out FILE]

For each size it writes img2dataset-style tar shards of small distinct JPEGs (random
colour blocks, 64x48; every image different, so none is copied as a duplicate), then runs
`vlm caption-dir SHARDS -o OUT --max-tokens 4` in its own process with a tiny random
idefics3 checkpoint (built on the fly unless --model) and reports images/s and the
process's peak RSS (`ru_maxrss` of the child). Flat memory: the peak RSS at the largest
size should be within a few percent of the smallest. Nothing is asserted; the figures go
to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_shards(folder: Path, count: int, shard_size: int, seed: int = 0) -> int:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for shard in range((count + shard_size - 1) // shard_size):
        with tarfile.open(folder / f"{shard:05d}.tar", "w") as tar:
            for i in range(min(shard_size, count - shard * shard_size)):
                blocks = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
                image = Image.fromarray(blocks).resize((64, 48), Image.NEAREST)
                buffer = io.BytesIO()
                image.save(buffer, "JPEG", quality=90)
                key = f"{shard:05d}{i:04d}"
                for name, data in ((f"{key}.jpg", buffer.getvalue()), (f"{key}.txt", f"image {key}".encode())):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                total += 1
    return total


def run_once(shards: Path, out: Path, model: str, batch_size: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLM_")}
    env |= {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "vlmcli", "caption-dir", str(shards), "-o", str(out), "-m", model, "--device", "cpu",
           "--dtype", "float32", "--max-tokens", "4", "--batch-size", str(batch_size), "-q", "--json"]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode not in (0, 9):
        raise SystemExit(proc.stderr[-3000:])
    summary = json.loads(proc.stdout)
    # ru_maxrss of RUSAGE_CHILDREN is the largest child so far: runs go smallest first, so
    # each reading is this run's peak unless an earlier (smaller) run peaked higher
    return {"summary": summary, "wall_s": wall, "peak_rss_mib": peak_kib / 1024, "earlier_peak_mib": before / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,20000")
    parser.add_argument("--shard-size", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--model", default=None)
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    with tempfile.TemporaryDirectory(prefix="vlm-bench-ds-") as tmp:
        root = Path(tmp)
        model = args.model
        if model is None:
            from vlmcli.testing import build_tiny_checkpoint

            model = str(build_tiny_checkpoint("idefics3", root / "model"))
        reports = []
        for size in sizes:
            shards = root / f"wds-{size}"
            made = write_shards(shards, size, args.shard_size)
            report = run_once(shards, root / f"out-{size}", model, args.batch_size)
            s = report["summary"]
            rate = s["ok"] / report["wall_s"]
            reports.append({"images": made, "ok": s["ok"], "shards": s["shards"], "wall_s": round(report["wall_s"], 1),
                            "images_per_s_wall": round(rate, 1), "images_per_s_captioning": s["images_per_s"],
                            "peak_rss_mib": round(report["peak_rss_mib"], 1)})  # fmt: skip
            print(json.dumps(reports[-1]), flush=True)
    first, last = reports[0], reports[-1]
    print(f"peak RSS {last['peak_rss_mib']:.0f} MiB at {last['images']:,} images vs {first['peak_rss_mib']:.0f} MiB "
          f"at {first['images']:,}: ratio {last['peak_rss_mib'] / first['peak_rss_mib']:.3f}")  # fmt: skip
    if args.json_out:
        args.json_out.write_text(json.dumps(reports, indent=2))


if __name__ == "__main__":
    main()
