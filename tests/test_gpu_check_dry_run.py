"""bench/gpu/check.sh, the GPU check of issue 19, dry-run on the CPU (`--device cpu --quick`).

The GPU machine that runs it for real is lent for minutes, so every step's code path
(smoke test, parity on a device, checkpoint builders, roofline probes and stages, both
caption-dir benches, the interactive bench, the results file) must already work here.
Plus two fast checks of the harness: a step that overruns is killed with everything it
started, and the results file computes issue 19's target ratios.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GPU = ROOT / "bench" / "gpu"
STEPS = ["smoke", "parity", "build", "roofline", "caption-smolvlm", "caption-qwen", "interactive"]


def module(name: str):
    sys.path.insert(0, str(GPU))
    try:
        spec = importlib.util.spec_from_file_location(f"gpu_{name}", GPU / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod  # dataclasses look their module up
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(GPU))


def alive(pid: int) -> bool:
    """Running (a zombie, killed but not yet reaped by its new parent, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.slow
def test_cpu_dry_run_runs_every_step(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "TMPDIR": str(tmp_path)}
    env.pop("OUT", None)
    out = tmp_path / "out"
    done = subprocess.run(["bash", str(GPU / "check.sh"), "--device", "cpu", "--quick", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    data = json.loads((out / "gpu_results.json").read_text())
    assert [s["name"] for s in data["steps"]] == STEPS
    assert all(s["rc"] == 0 for s in data["steps"]), data["steps"]
    assert data["smoke"]["ok"] and data["smoke"]["engine_device"] == "cpu"
    assert data["parity"]["float32_all_equal"] and data["parity"]["errors"] == 0
    stages = data["roofline"]["stages"]
    assert {s["model"] for s in stages} == {"smolvlm-256m", "qwen2_5_vl-3b"}
    assert all(s["seconds"] > 0 and s["achieved"] > 0 for s in stages)
    assert data["roofline"]["bf16_matmul_tflops"] > 0 and data["roofline"]["copy_gbps"] > 0
    profiles = data["roofline"]["profiles"]
    assert len(profiles) == 4 and all("table" in p for p in profiles), profiles
    for name in ("caption-smolvlm", "caption-qwen"):
        assert set(data[name]["reports"]) == {"transformers", "hf-pipeline", "pipeline"}
        assert data[name]["ratios"]["pipeline / transformers"] > 0
    assert [r["case"] for r in data["interactive"]["rows"]][-1] == "warm, cache hit"
    targets = [t["target"] for t in data["targets"]]
    assert sum(t.startswith("caption-dir") for t in targets) == 2
    assert sum(t.startswith("vision tower") for t in targets) == 2
    assert sum(t.startswith("decode batch 4") for t in targets) == 2
    text = (out / "gpu_results.md").read_text()
    assert "## Targets (issue 19)" in text and "Dry run" in text
    assert (out / "check.log").stat().st_size > 0
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_a_step_over_its_limit_is_killed_with_its_children(tmp_path):
    check = module("check")
    marker = tmp_path / "child.pid"
    script = (f"import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
              f"open({str(marker)!r}, 'w').write(str(p.pid)); print('started', flush=True); time.sleep(60)")
    log = check.Log(tmp_path / "log.txt")
    start = time.monotonic()
    rc, timed_out = check.run_step([sys.executable, "-c", script], 3, log, dict(os.environ))
    assert timed_out and rc != 0 and time.monotonic() - start < 20
    child = int(marker.read_text())
    time.sleep(0.5)
    assert not alive(child), "the step's child outlived the step"
    assert "started" in (tmp_path / "log.txt").read_text()


def test_results_compute_the_targets_of_issue_19(tmp_path):
    results = module("results")
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "steps.json").write_text(json.dumps({"steps": [{"name": "roofline", "rc": 0, "seconds": 50, "note": ""}]}))
    roofline = {
        "device": "cuda", "bf16_matmul_tflops": 780.0, "copy_gbps": 4300.0,
        "nominal": {"bf16_tflops": 790.0, "hbm_gbps": 4800.0},
        "stages": [
            {"model": "m", "stage": "vision tower, 64 tiles", "seconds": 0.01, "achieved": 395.0, "unit": "TFLOP/s",
             "fraction_of_probe": 395 / 780, "fraction_of_nominal": 0.5},
            {"model": "m", "stage": "decode, batch 1, eager", "batch": 1, "graph": False, "seconds": 0.001,
             "achieved": 300.0, "unit": "GB/s", "fraction_of_probe": 0.07, "fraction_of_nominal": 0.0625},
            {"model": "m", "stage": "decode, batch 64, eager", "batch": 64, "graph": False, "seconds": 0.002,
             "achieved": 960.0, "unit": "GB/s", "fraction_of_probe": 0.22, "fraction_of_nominal": 0.2},
        ],
    }
    (parts / "roofline.json").write_text(json.dumps(roofline))
    caption = {"model": "x", "images": 24, "tokens": 64, "dtype": "auto", "device": "cuda",
               "reports": {"transformers": {"images": 24, "seconds": 60.0, "images_per_s": 0.4, "load_s": 3.0,
                                            "peak_rss_mb": 900.0, "note": ""}},
               "ratios": {"pipeline / transformers": 6.2}}
    (parts / "caption-smolvlm.json").write_text(json.dumps(caption))
    text = results.render(parts, tmp_path / "out")
    rows = {r["target"]: r["verdict"] for r in json.loads((tmp_path / "out" / "gpu_results.json").read_text())["targets"]}
    assert rows == {
        "caption-dir / transformers loop, SmolVLM2-256M size": "met",
        "vision tower, m (64 tiles)": "met",
        "decode batch 64, m, eager": "missed",
    }
    assert "6.20x" in text and "20.0% of nominal peak" in text
