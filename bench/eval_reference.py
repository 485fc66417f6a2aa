"""Answer quality of the reference model through vlmcli's Engine, per task and per option.

    python bench/eval_reference.py                      # 40 held-out questions per task
    python bench/eval_reference.py --per-task 10 --rows "images: full tokens"

Rows (see `models.world.evaluate.default_settings`): images at full tokens, with
`--compress pool:2` and `perceiver:M`; the small-dot detail scenes at lower
`ResolutionPolicy.max_pixels`; clips sampled densely (uniform, 16 frames: every event is
in the frames), with `--temporal-pool K`, `pool:2`, `perceiver:M`; and the three samplers
at 8 frames. A row whose engine option is missing prints "not run" and the reason.
Prints two markdown tables (images, videos) and optionally writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.world.evaluate import default_settings, markdown, run_setting  # noqa: E402
from models.world.tasks import IMAGE_TASK_NAMES, VIDEO_TASK_NAMES, Split, suite  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=Path("models/reference"))
    p.add_argument("--per-task", type=int, default=40, help="held-out questions per task")
    p.add_argument("--seed", type=int, default=0, help="world seed (the held-out split of it)")
    p.add_argument("--frames", type=int, default=8, help="frames for the sampler comparison rows")
    p.add_argument("--dense", type=int, default=16, help="frames for the dense uniform video rows")
    p.add_argument("--perceiver", default="8,4", help="comma-separated M values for perceiver:M rows")
    p.add_argument("--rows", default="", help="only rows whose name contains one of these (comma-separated)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quantize", default="none", help="none or int8 (`--quantize` of the CLI)")
    p.add_argument(
        "--int8-parts", default="", help="measure another int8 plan: comma-separated vision,language,lm_head"
    )
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import torch

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.int8_parts:  # which parts int8 covers is chosen by this measurement: try other plans
        from vlmcli.quantize.mode import PLANS, QuantPlan, Quantize

        PLANS[Quantize.INT8] = QuantPlan(frozenset(p.strip() for p in args.int8_parts.split(",")))
    settings = default_settings(
        perceiver=[int(m) for m in args.perceiver.split(",") if m], frames=args.frames, dense=args.dense
    )
    if args.rows:
        wanted = [w.strip() for w in args.rows.split(",") if w.strip()]
        settings = [s for s in settings if any(w in s.name for w in wanted)]
    examples = suite(split=Split.HELDOUT, per_task=args.per_task, seed=args.seed)
    results = []
    for setting in settings:
        start = time.time()
        result = run_setting(args.model, setting, examples, quantize=args.quantize)
        results.append(result)
        status = result.error or f"{100 * result.overall:.1f}%"
        print(f"{setting.name}: {status} ({time.time() - start:.0f}s)", file=sys.stderr, flush=True)
    print(
        f"Held-out split, seed {args.seed}, {args.per_task} questions per task, model {args.model}, "
        f"quantize {args.quantize}{' (' + args.int8_parts + ')' if args.int8_parts else ''}.\n"
    )
    for title, tasks in (("Images", IMAGE_TASK_NAMES), ("Videos", VIDEO_TASK_NAMES)):
        rows = [r for r in results if r.setting.video == (tasks is VIDEO_TASK_NAMES)]
        if rows:
            print(f"**{title}** (exact match, %)\n\n{markdown(rows, tasks=tasks)}\n")
    not_run = [r for r in results if r.error]
    if not_run:
        print("Rows that could not run: " + "; ".join(f"{r.setting.name} ({r.error})" for r in not_run))
    if args.json is not None:
        payload = [
            {**asdict(r.setting), "accuracy": r.accuracy, "count": r.count, "overall": r.overall,
             "visual_tokens": r.visual_tokens, "seconds_per_question": r.seconds_per_question,
             "events_seen": r.events_seen, "error": r.error}
            for r in results
        ]
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
