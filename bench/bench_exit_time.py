"""Time from a `vlm` process's last output line to its exit, with and without the interpreter's
teardown (`vlmcli.process_exit`), side by side.

    python bench/bench_exit_time.py --model CKPT --images DIR [--video CLIP] [--repeat 3]

Each scenario runs `--repeat` times per mode, alternating, in real processes (stdout and
stderr merged into one pipe: the last line is whichever stream wrote last):

    teardown  `vlm` as before: the process ends through Python's finalization
    fast      `vlm` as shipped: `os._exit` once atexit handlers ran and the streams are flushed

Printed per scenario: the median wall time to the last line, the median gap from it to the
exit, and the ratio of the gaps. A tiny random checkpoint is enough (the gap is interpreter
teardown of torch/transformers, not the model's size).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ENTRY = {
    "fast": "import sys; sys.argv[0] = 'vlm'; from vlmcli.cli import main; main()",
    "teardown": (
        "import sys, vlmcli.process_exit as pe\n"
        "def teardown(code):\n    raise SystemExit(code)\n"
        "pe.exit_process = teardown\n"
        "sys.argv[0] = 'vlm'\nfrom vlmcli.cli import main\nmain()\n"
    ),
}


def run_once(mode: str, args: list[str]) -> tuple[float, float, int]:
    """(seconds to the last output line, seconds from it to the exit, exit code)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", ENTRY[mode], *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    last = start
    assert proc.stdout is not None
    for _ in iter(proc.stdout.readline, b""):
        last = time.monotonic()
    proc.wait()
    end = time.monotonic()
    return last - start, end - last, proc.returncode


def scenarios(ns: argparse.Namespace, scratch: Path) -> dict[str, list[str]]:
    images = sorted(p for p in Path(ns.images).iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if len(images) < 10:
        raise SystemExit(f"--images needs 10 pictures or more, found {len(images)}")
    model = ["--model", ns.model, "--max-tokens", "4"]
    found = {
        "ask (1 image, --no-stream)": ["ask", str(images[0]), "What is this?", "--no-stream", *model],
        "describe (10 images, --json)": ["describe", *map(str, images[:10]), "--json", *model],
        "caption-dir (10 images)": ["caption-dir", "--files-from", str(scratch / "list.txt"), "-o", "{out}", *model],
    }
    (scratch / "list.txt").write_text("".join(f"{p}\n" for p in images[:10]))
    if ns.video:
        found["video-summarize"] = ["video-summarize", ns.video, *model]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a local checkpoint folder (a tiny one will do)")
    parser.add_argument("--images", required=True, help="a folder with 10 or more pictures")
    parser.add_argument("--video", help="a short video for video-summarize")
    parser.add_argument("--repeat", type=int, default=3)
    ns = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="vlm-bench-exit-"))
    try:
        rows = []
        for name, args in scenarios(ns, scratch).items():
            results: dict[str, list[tuple[float, float, int]]] = {"teardown": [], "fast": []}
            for round_ in range(ns.repeat):
                for mode in results:  # alternated: load on a shared machine hits both alike
                    out = scratch / f"out-{mode}-{round_}"
                    results[mode].append(run_once(mode, [a.replace("{out}", str(out)) for a in args]))
            codes = {code for runs in results.values() for *_, code in runs}
            to_last = {m: statistics.median(r[0] for r in runs) for m, runs in results.items()}
            gap = {m: statistics.median(r[1] for r in runs) for m, runs in results.items()}
            wall = {m: statistics.median(r[0] + r[1] for r in runs) for m, runs in results.items()}
            rows.append((name, to_last, gap, wall, codes))
            print(f"... {name}: done", file=sys.stderr)
        print(
            f"{'scenario':30} {'last line (teardown/fast)':>26} {'exit gap teardown':>18} {'exit gap fast':>14} "
            f"{'gap ratio':>10} {'wall (teardown/fast)':>22} exit codes"
        )
        for name, to_last, gap, wall, codes in rows:
            ratio = gap["teardown"] / gap["fast"] if gap["fast"] > 0 else float("inf")
            print(
                f"{name:30} {to_last['teardown']:>11.2f} s / {to_last['fast']:>6.2f} s "
                f"{gap['teardown']:>16.2f} s {gap['fast']:>12.2f} s {ratio:>9.1f}x "
                f"{wall['teardown']:>9.2f} s / {wall['fast']:>6.2f} s {sorted(codes)}"
            )
        print(f"(medians of {ns.repeat} runs per mode; python {sys.version.split()[0]})")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
