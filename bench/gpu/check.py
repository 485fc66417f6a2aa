"""The GPU check's steps, each in its own process group under a hard timeout and one overall budget.

    python bench/gpu/check.py [--device cuda] [--quick] [--out DIR] [--budget SECONDS] [--only STEP ...]
                              [--skip STEP ...] [--work DIR] [--parts DIR]

Normally started by bench/gpu/check.sh (which installs the carried wheels and runs the
smoke test first). Steps, most valuable first (names for --only/--skip):

  parity           engine vs model.generate on the device, every family, float32 and bfloat16
  build            random checkpoints: SmolVLM2-256M size, Qwen2.5-VL-3B size
  roofline         bf16 matmul and copy probes; vision tower and decode (batch 1, 64) vs them
  caption-smolvlm  bench_caption_dir.py on the SmolVLM2-256M-size checkpoint, bf16
  caption-qwen     bench_caption_dir.py on the Qwen2.5-VL-3B-size checkpoint, bf16
  interactive      bench_interactive.py --device DEVICE on the SmolVLM2-256M-size checkpoint

A step gets min(its own timeout, what is left of --budget); one that runs over is killed
with everything it started (its process group), recorded, and the next step runs. After
every step OUT/gpu_results.md and OUT/gpu_results.json are rewritten (bench/gpu/results.py),
so whatever was measured survives a cut-off; all output also goes to OUT/check.log.
`--quick` runs every step at tiny sizes (the CPU dry run).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import results  # noqa: E402


@dataclass(frozen=True)
class Step:
    name: str
    timeout: int  # seconds, full run
    quick_timeout: int  # seconds, --quick
    needs: tuple[str, ...] = ()  # steps whose output this one reads


STEPS = (
    Step("parity", 90, 90),
    Step("build", 90, 60),
    Step("roofline", 100, 90, needs=("build",)),
    Step("caption-smolvlm", 130, 120, needs=("build",)),
    Step("caption-qwen", 140, 120, needs=("build",)),
    Step("interactive", 45, 60, needs=("build",)),
)


def argv(step: str, args: argparse.Namespace, work: Path, parts: Path) -> list[str]:
    py = sys.executable
    quick = ["--quick"] if args.quick else []
    ckpt = work / "checkpoints"
    smol, qwen = ckpt / "smolvlm-256m", ckpt / "qwen2_5_vl-3b"
    out = str(parts / f"{step}.json")
    if step == "parity":
        return [py, str(HERE / "parity_cuda.py"), "--device", args.device, *quick, "--json-out", out]
    if step == "build":
        return [py, str(HERE / "build_checkpoints.py"), str(ckpt), "--device", args.device, *quick]
    if step == "roofline":
        return [py, str(HERE / "roofline_cuda.py"), "--device", args.device, *quick, "--json-out", out,
                "--models", f"smolvlm-256m={smol}", f"qwen2_5_vl-3b={qwen}"]
    if step.startswith("caption-"):
        model = smol if step == "caption-smolvlm" else qwen
        images, tokens = (3, 4) if args.quick else (24 if step == "caption-smolvlm" else 16, 64)
        return [py, str(ROOT / "bench" / "bench_caption_dir.py"), "--model", str(model), "--device", args.device,
                "--dtype", "auto", "--images", str(images), "--tokens", str(tokens), "--json-out", out]
    if step == "interactive":
        return [py, str(ROOT / "bench" / "bench_interactive.py"), "--model", str(smol), "--device", args.device,
                "--dtype", "auto", "--max-tokens", "4" if args.quick else "32", "--json-out", out]
    raise ValueError(step)


class Log:
    """Lines to stdout and OUT/check.log at once."""

    def __init__(self, path: Path):
        self.file = path.open("a", buffering=1)
        self.lock = threading.Lock()

    def __call__(self, line: str) -> None:
        with self.lock:
            sys.stdout.write(line if line.endswith("\n") else line + "\n")
            sys.stdout.flush()
            self.file.write(line if line.endswith("\n") else line + "\n")


def run_step(cmd: list[str], timeout: float, log: Log, env: dict) -> tuple[int | None, bool]:
    """Run `cmd` in a new process group; kill the whole group after `timeout` s. (exit code, timed out)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                            env=env, cwd=ROOT, start_new_session=True)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            log(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid, signal.SIGKILL)
            proc.wait()
    kill_group(proc.pid, signal.SIGKILL)  # anything the step left running (caption-dir's child sides)
    reader.join(timeout=5)
    return proc.returncode, timed_out


def kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: the CPU dry run")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "/tmp/gpu-check-out"))
    parser.add_argument("--budget", type=float, default=None, help="seconds for all steps (default 430; --quick 400)")
    parser.add_argument("--only", nargs="+", choices=[s.name for s in STEPS])
    parser.add_argument("--skip", nargs="+", choices=[s.name for s in STEPS], default=[])
    parser.add_argument("--work", type=Path, help="checkpoints and scratch (default: a new temp folder)")
    parser.add_argument("--parts", type=Path, help="where the steps' JSON goes (check.sh passes the smoke test's)")
    parser.add_argument("--wheels", default="", help="what check.sh installed, for the results header")
    args = parser.parse_args()
    budget = args.budget or (400.0 if args.quick else 430.0)
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    parts = args.parts or work / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    log = Log(args.out / "check.log")
    started = time.time()
    meta = {"mode": f"{args.device}{' --quick (dry run)' if args.quick else ''}",
            "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)), "budget_s": budget,
            "wheels": args.wheels or "none installed"}
    (parts / "meta.json").write_text(json.dumps(meta))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH", ""), str(ROOT)) if p)
    env.update({"PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TOKENIZERS_PARALLELISM": "false", "TRANSFORMERS_VERBOSITY": "error"})
    statuses = (json.loads((parts / "steps.json").read_text()).get("steps", []) if (parts / "steps.json").exists() else [])
    wanted = set(args.only or [s.name for s in STEPS]) - set(args.skip)
    wanted |= {need for s in STEPS if s.name in wanted for need in s.needs}  # --only caption-qwen builds first
    selected = [s for s in STEPS if s.name in wanted]
    failed: set[str] = set()
    for step in selected:
        left = budget - (time.time() - started)
        limit = min(step.quick_timeout if args.quick else step.timeout, left)
        status: dict = {"name": step.name}
        missing = [n for n in step.needs if n in failed]
        if missing:
            status.update(rc=None, seconds=0, note=f"skipped: {', '.join(missing)} failed")
        elif limit < 15:
            status.update(rc=None, seconds=0, note=f"skipped: {left:.0f} s of the budget left")
        else:
            cmd = argv(step.name, args, work, parts)
            log(f"\n=== {step.name} (limit {limit:.0f} s, {time.time() - started:.0f} s into the check) ===")
            log("$ " + " ".join(cmd))
            t0 = time.time()
            rc, timed_out = run_step(cmd, limit, log, env)
            status.update(rc=rc, seconds=time.time() - t0,
                          note=f"TIMED OUT after {limit:.0f} s (killed)" if timed_out else "" if rc == 0 else "FAILED")
            log(f"=== {step.name}: exit {rc}, {status['seconds']:.0f} s {status['note']}")
        if status["rc"] != 0:
            failed.add(step.name)
        statuses = [s for s in statuses if s["name"] != step.name] + [status]
        (parts / "steps.json").write_text(json.dumps({"steps": statuses}))
        results.render(parts, args.out)
    text = results.render(parts, args.out)
    log(f"\n{text}")
    log(results.summary(json.loads((args.out / "gpu_results.json").read_text())))
    log(f"check: {time.time() - started:.0f} s for the steps; results in {args.out}/gpu_results.md and .json, "
        f"log in {args.out}/check.log")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
