"""Merge the GPU check's step outputs into one results file, with issue 19's targets.

    python bench/gpu/results.py PARTS_DIR OUT_DIR

PARTS_DIR holds what bench/gpu/check.py's steps wrote (steps.json, smoke.json, parity.json,
roofline.json, caption-smolvlm.json, caption-qwen.json, interactive.json; any may be
missing). Writes OUT_DIR/gpu_results.json (everything) and OUT_DIR/gpu_results.md (the
tables and the target ratios, ready to copy into bench/RESULTS.md). Imports nothing heavy:
check.py calls `render` after every step, so a run cut short still leaves a results file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TARGETS = {  # issue 19, one H100/H200-class GPU
    "caption": 5.0,  # caption-dir images/s over the transformers bf16 loop
    "decode": 0.50,  # decode at batch 64, fraction of HBM bandwidth
    "vision": 0.40,  # vision tower, fraction of the bf16 tensor peak
}
CAPTIONS = (("caption-smolvlm", "SmolVLM2-256M size"), ("caption-qwen", "Qwen2.5-VL-3B size"))


def load(parts: Path, name: str) -> dict | None:
    path = parts / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def verdict(value: float | None, target: float) -> str:
    if value is None:
        return "not measured"
    return "met" if value >= target else "missed"


def targets(data: dict) -> list[dict]:
    """One row per target figure that could be computed."""
    rows = []
    for name, label in CAPTIONS:
        caption = data.get(name)
        if caption and "pipeline / transformers" in caption.get("ratios", {}):
            ratio = caption["ratios"]["pipeline / transformers"]
            rows.append({"target": f"caption-dir / transformers loop, {label}", "value": f"{ratio:.2f}x",
                         "goal": f">= {TARGETS['caption']:.0f}x", "verdict": verdict(ratio, TARGETS["caption"])})
    roofline = data.get("roofline") or {}
    stages = roofline.get("stages", [])
    nominal = roofline.get("nominal")
    biggest = max((s.get("batch", 0) for s in stages), default=0)
    for s in stages:
        frac = s.get("fraction_of_nominal") if nominal else s.get("fraction_of_probe")
        of = "nominal peak" if nominal else "measured probe"
        if s["stage"].startswith("vision tower"):
            rows.append({"target": f"vision tower, {s['model']} ({s['stage'].removeprefix('vision tower, ')})",
                         "value": f"{frac:.1%} of {of} ({s['achieved']:.1f} TFLOP/s; {s['fraction_of_probe']:.1%} of probe)",
                         "goal": f">= {TARGETS['vision']:.0%}", "verdict": verdict(frac, TARGETS["vision"])})
        elif s["stage"].startswith("decode") and s.get("batch") == biggest:
            kind = "CUDA graph" if s.get("graph") else "eager"
            rows.append({"target": f"decode batch {biggest}, {s['model']}, {kind}",
                         "value": f"{frac:.1%} of {of} ({s['achieved']:.0f} GB/s; {s['fraction_of_probe']:.1%} of probe)",
                         "goal": f">= {TARGETS['decode']:.0%}", "verdict": verdict(frac, TARGETS["decode"])})
    return rows


def table(headers: list[str], rows: list[list[object]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def markdown(data: dict) -> str:
    smoke = data.get("smoke") or {}
    meta = data.get("meta") or {}
    lines = [f"# GPU check results ({meta.get('mode', '?')}, {meta.get('started', '?')})", ""]
    if "dry run" in str(meta.get("mode")):
        lines += ["Dry run: tiny models on the CPU, to exercise the code paths; these figures measure nothing.", ""]
    machine = smoke.get("device_name") or smoke.get("device") or "?"
    lines.append(f"Machine: {machine}; {smoke.get('device_memory_gib', '?')} GiB; capability "
                 f"{smoke.get('capability', '-')}; {smoke.get('cpus', '?')} CPUs; torch {smoke.get('torch', '?')} "
                 f"(CUDA {smoke.get('torch_cuda', '-')}); transformers {str(smoke.get('transformers', '?')).split(' ')[0]}; "
                 f"python {smoke.get('python', '?')}; wheels: {meta.get('wheels', '?')}")
    if smoke.get("nvidia_smi"):
        lines += ["", "```", smoke["nvidia_smi"], "```"]
    lines += ["", "## Steps", ""]
    lines += table(["step", "exit", "seconds", "note"], [
        [s["name"], s.get("rc"), f"{s.get('seconds', 0):.0f}", s.get("note", "")] for s in data.get("steps", [])
    ])
    rows = targets(data)
    if rows:
        lines += ["", "## Targets (issue 19)", ""]
        lines += table(["figure", "value", "target", ""], [[r["target"], r["value"], r["goal"], r["verdict"]] for r in rows])
    parity = data.get("parity")
    if parity:
        lines += ["", f"## Parity on {parity['device']} (engine vs model.generate, greedy, 8 tokens)", ""]
        lines += table(["family", "dtype", "single", "batch", "note"], [
            [r["family"], r["dtype"], r.get("single", "-"), r.get("batch", "-"),
             r.get("error") or "; ".join(f"{k}: {v}" for k, v in r.items() if k.endswith("first_difference"))]
            for r in parity["rows"]
        ])
        lines.append(f"\nfloat32 all equal: {parity['float32_all_equal']}; bfloat16 equal: "
                     f"{parity['bfloat16_equal']}/{parity['bfloat16_cases']}")
    roofline = data.get("roofline")
    if roofline:
        lines += ["", "## Roofline", "", f"Probes: bf16 matmul {roofline.get('bf16_matmul_tflops', 0):.1f} TFLOP/s, "
                  f"device copy {roofline.get('copy_gbps', 0):.0f} GB/s (read + write); nominal: {roofline.get('nominal')}", ""]
        lines += table(["model", "stage", "ms", "achieved", "of probe", "of nominal"], [
            [s["model"], s["stage"], f"{s['seconds'] * 1e3:.3f}", f"{s['achieved']:.2f} {s['unit']}",
             f"{s['fraction_of_probe']:.1%}",
             f"{s['fraction_of_nominal']:.1%}" if s.get("fraction_of_nominal") is not None else "-"]
            for s in roofline.get("stages", [])
        ])
        for err in roofline.get("graph_errors", []):
            lines.append(f"\nCUDA graph capture failed: {err}")
        for p in roofline.get("profiles", []):
            if "error" in p:
                lines += ["", f"Profile of {p['model']}, {p['stage']} failed: {p['error']}"]
                continue
            lines += ["", f"Profile, {p['model']}, {p['stage']}: device busy {p['device_busy_fraction']:.0%} of wall; "
                      f"{p.get('kernel_launches_per_step', 0):.0f} kernel launches per step (per call for the vision tower)", "", "```",
                      p.get("table", "").strip(), "```"]
    for name, label in CAPTIONS:
        caption = data.get(name)
        if not caption:
            continue
        lines += ["", f"## caption-dir, {label} ({caption['images']} images, {caption['tokens']} tokens, "
                  f"dtype {caption['dtype']}, device {caption['device']})", ""]
        lines += table(["side", "images", "seconds", "images/s", "load s", "peak RSS MB", "note"], [
            [side, r["images"], f"{r['seconds']:.2f}", f"{r['images_per_s']:.2f}", f"{r['load_s']:.1f}",
             f"{r['peak_rss_mb']:.0f}", r.get("note", "")] for side, r in caption["reports"].items()
        ])
        lines += [""] + [f"- {k}: {v:.2f}x" for k, v in caption.get("ratios", {}).items()]
    interactive = data.get("interactive")
    if interactive:
        lines += ["", f"## Interactive (bench_interactive.py, device {interactive['device']}, "
                  f"{interactive['max_tokens']} tokens)", ""]
        lines += table(["case", "first token s", "total s", "cache hits"], [
            [r["case"], f"{r['first_token_s']:.3f}", f"{r['total_s']:.3f}", r["cache_hits"]] for r in interactive["rows"]
        ])
    return "\n".join(lines) + "\n"


def summary(data: dict) -> str:
    """Steps and targets only: what the end of a run's output should show."""
    lines = ["## Summary", ""]
    lines += table(["step", "exit", "seconds", "note"], [
        [s["name"], s.get("rc"), f"{s.get('seconds', 0):.0f}", s.get("note", "")] for s in data.get("steps", [])
    ])
    rows = data.get("targets") or []
    if rows:
        lines += [""] + table(["figure", "value", "target", ""], [[r["target"], r["value"], r["goal"], r["verdict"]] for r in rows])
    return "\n".join(lines) + "\n"


def render(parts: Path, out: Path) -> str:
    """Write gpu_results.json and gpu_results.md from `parts`; return the markdown."""
    data: dict = {"meta": load(parts, "meta") or {}, "steps": (load(parts, "steps") or {}).get("steps", [])}
    for name in ("smoke", "parity", "roofline", "caption-smolvlm", "caption-qwen", "interactive"):
        data[name] = load(parts, name)
    data["targets"] = targets(data)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_results.json").write_text(json.dumps(data, indent=1))
    text = markdown(data)
    (out / "gpu_results.md").write_text(text)
    return text


if __name__ == "__main__":
    print(render(Path(sys.argv[1]), Path(sys.argv[2])))
