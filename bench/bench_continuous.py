"""Continuous vs static batching on caption-dir (or describe), side by side in one process.

    python bench/bench_continuous.py [--family idefics3 qwen2_vl smolvlm-lm135m] [--images 32] [--tokens 64]
                                     [--slots 8] [--repeats 2] [--threads 1] [--keep-denormals] [--json-out FILE]
                                     [--command caption-dir|describe]

`--command describe` times `vlm describe IMAGES --json` instead (in this process, through
the CLI with the loaded engine), three ways: one input at a time (`--static-batching
--batch-size 1`, describe's behaviour before continuous batching), static batches of
`--slots`, and continuous batching with `--slots` slots (the default now).

Checkpoints (random weights, built on the fly from `vlmcli.testing`): tiny ones by family
name (`idefics3`, `qwen2_vl`, ...: ~1 ms decode steps, so they measure the scheduler's
overheads more than the model), and `smolvlm-lm135m`, SmolVLM2-256M's real-size language
model behind the tiny vision tower (~110 ms decode steps at batch 8 on one CPU thread:
decode-bound, like captioning with a real model).

Both sides run `vlmcli.captions.pipeline.run` (what `vlm caption-dir` runs: hashing,
batching by size, background decoding, Parquet shards) over the same JPEGs with the same
loaded engine, once with `static_batching=True` and once continuously batched with
`--batch-size` slots, alternating `--repeats` times (best rate of each reported; model
loading excluded, the vision-feature cache off so every run encodes every image).

Captions end at their natural end-of-sequence, never at a forced length. A random tiny
checkpoint almost never says EOS, so each family's checkpoint is made EOS-prone before
timing: the output-layer row of each of its EOS ids becomes 1.05 x the row of a token
chosen in a pre-pass over 16 of the images (those whose first appearances end the most
captions between 1/8 of `--tokens` and `--tokens`, at the most different steps), so a caption ends where the model would
first have said one of those tokens, which differs from image to image; some still run to
`--tokens` (the lengths are printed). The engine, the weights and the captions are the same for both sides, and the
bench checks that every caption is identical.

"Wasted" counts decode row-steps spent on rows that had already finished (static batches
keep decoding a finished row until their longest caption ends); continuous batching evicts
a row as it finishes, so its count is 0 by construction and checked here. Row-steps are
counted by a hook on the decoder: the rows of every one-token forward pass. Decode steps,
row-steps and "wasted" are exact and machine-independent; images/s depends on the load of
the machine (all runs are printed).

One torch thread by default: on a shared 2-core machine two intra-op threads wait on each
other behind other jobs, and rates swung 20x between identical runs.
Both sides run with `torch.set_flush_denormal(True)` unless `--keep-denormals`: without it,
static runs of the EOS-prone tiny Qwen2-VL were up to 10x slower per decode step on a 2-core
Xeon (subnormal floats in the rows that keep decoding after their end), which would flatter
continuous batching for a reason that has nothing to do with scheduling.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPT = "Describe this image in one or two sentences."


def make_images(folder: Path, count: int) -> list[Path]:
    """`count` distinct JPEGs: random crops and flips of the bundled photos."""
    from PIL import ImageOps

    from vlmcli.testing import sample_photos

    rnd = random.Random(0)
    photos = sample_photos()
    paths = []
    for i in range(count):
        image = photos[i % len(photos)]
        w, h = image.size
        box = (rnd.randint(0, w // 4), rnd.randint(0, h // 4), w - rnd.randint(0, w // 4), h - rnd.randint(0, h // 4))
        image = image.crop(box)
        if rnd.random() < 0.5:
            image = ImageOps.mirror(image)
        path = folder / f"img{i:04d}.jpg"
        image.save(path, quality=90)
        paths.append(path)
    return paths


def make_eos_prone(engine, paths: list[Path], *, tokens: int) -> dict:
    """Make each end-of-sequence id's output row 1.05 x the row of a token chosen from a
    pre-pass over 16 images: greedily, the token whose first appearances end the most
    captions between 1/8 of `tokens` and `tokens` (and the fewest sooner), then at the most
    different steps, together with those already chosen."""
    import torch

    from vlmcli.engine import GenerationConfig, Request
    from vlmcli.media.images import load_image

    requests = [Request(prompt=PROMPT, images=(load_image(str(p)),)) for p in paths[:16]]
    answers = [r.token_ids for r in engine.generate(requests, GenerationConfig(max_tokens=tokens))]

    def ends(chosen: list[int]) -> list[int]:
        """Caption lengths if each caption ended at the first appearance of any of `chosen`."""
        return [min((a.index(t, 1) + 1 for t in chosen if t in a[1:]), default=tokens) for a in answers]

    def score(chosen: list[int]) -> tuple[int, int]:
        """Captions ending between 1/8 of `tokens` and `tokens` (fewer shorter ones), then distinct lengths."""
        lengths = ends(chosen)
        early = [n for n in lengths if tokens // 8 <= n < tokens]
        return len(early) - sum(n < tokens // 8 for n in lengths), len(set(early))

    candidates = sorted({t for a in answers for t in a[1:]} - set(engine.token_ids.eos))
    chosen: list[int] = []
    weight = engine.adapter.model.lm_head.weight  # (V, D)
    with torch.no_grad():
        for eos in sorted(engine.token_ids.eos):
            best = max(candidates, key=lambda t: score([*chosen, t]))
            chosen.append(best)
            weight[eos] = 1.05 * weight[best]
    return {"tokens": chosen, "eos": sorted(engine.token_ids.eos), "prepass_lengths": sorted(ends(chosen))}


class RowSteps:
    """Counts the rows of one-token decoder passes (decode steps)."""

    def __init__(self, decoder) -> None:
        self.rows = 0
        self.steps = 0
        self.handle = decoder.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs) -> None:
        embeds = kwargs.get("inputs_embeds")
        if embeds is not None and embeds.shape[1] == 1:
            self.rows += int(embeds.shape[0])
            self.steps += 1


def caption(engine, images: Path, *, static: bool, args: argparse.Namespace) -> dict:
    """One caption-dir run; its rate, row-steps and captions."""
    import pyarrow.parquet as pq

    from vlmcli.captions.config import CaptionJob
    from vlmcli.captions.pipeline import run
    from vlmcli.captions.progress import NullProgress
    from vlmcli.captions.summary import Summary
    from vlmcli.engine import GenerationConfig
    from vlmcli.sinks import OutputFormat, SinkConfig, make_sink

    out = Path(tempfile.mkdtemp(prefix="bench-continuous-"))
    job = CaptionJob(
        engine=engine.config,
        generation=GenerationConfig(max_tokens=args.tokens),
        inputs=(str(images),),
        prompts=(PROMPT,),
        batch_size=args.slots,
        static_batching=static,
    )
    counter = RowSteps(engine.adapter.decoder)
    try:
        start = time.perf_counter()
        summary = run(job, make_sink(OutputFormat.PARQUET, SinkConfig(output=out)), load_engine=lambda _: engine,
                      progress=NullProgress(), summary=Summary())
        seconds = time.perf_counter() - start
    finally:
        counter.handle.remove()
    rows = pq.read_table(out).to_pylist()
    assert summary.error == 0 and len(rows) == args.images, summary.errors
    captions = {Path(r["path"]).name: (r["caption"], r["completion_tokens"]) for r in rows}
    return run_report(summary.batching, seconds=seconds, counter=counter, captions=captions)


def run_report(mode: str, *, seconds: float, counter: RowSteps, captions: dict[str, tuple[str, int]]) -> dict:
    """One run's figures; `captions`: image name -> (text, answer tokens)."""
    lengths = [tokens for _, tokens in captions.values()]
    useful = sum(n - 1 for n in lengths)  # the first token of each comes from its prefill
    return {
        "mode": mode,
        "seconds": seconds,
        "images_per_s": len(captions) / seconds,
        "decode_steps": counter.steps,
        "row_steps": counter.rows,
        "wasted_row_steps": counter.rows - useful,
        "tokens": sum(lengths),
        "captions": {name: text for name, (text, _) in captions.items()},
        "lengths": sorted(lengths),
    }


DESCRIBE_SIDES = {
    "one at a time": ["--static-batching", "--batch-size", "1"],
    "static": ["--static-batching", "--batch-size", "{slots}"],
    "continuous": ["--batch-size", "{slots}"],
}


def describe(engine, paths: list[Path], *, side: str, args: argparse.Namespace) -> dict:
    """One `vlm describe --json` run over `paths` through the CLI, with `engine` already loaded."""
    from typer.testing import CliRunner

    from vlmcli.cli import app
    from vlmcli.commands import _runtime

    flags = [f.format(slots=args.slots) for f in DESCRIBE_SIDES[side]]
    cli = [
        "describe", *map(str, paths), "--prompt", PROMPT, "--max-tokens", str(args.tokens), "--json", "--debug", *flags
    ]
    counter = RowSteps(engine.adapter.decoder)
    load, _runtime.load_engine = _runtime.load_engine, lambda _config: engine
    try:
        start = time.perf_counter()
        result = CliRunner().invoke(app, cli)
        seconds = time.perf_counter() - start
    finally:
        _runtime.load_engine = load
        counter.handle.remove()
    assert result.exit_code == 0, result.output[-2000:]
    records = [json.loads(line) for line in result.stdout.splitlines()]
    mode = next((line for line in result.stderr.splitlines() if line.startswith("[batching]")), "[batching] static")
    captions = {Path(r["inputs"][0]).name: (r["text"], r["completion_tokens"]) for r in records}
    return run_report(mode.removeprefix("[batching] "), seconds=seconds, counter=counter, captions=captions)


MID_SIZE = "smolvlm-lm135m"


def build_model(family: str, out: Path) -> Path:
    if family == MID_SIZE:
        from vlmcli.testing import build_smolvlm_lm135m_random

        return build_smolvlm_lm135m_random(out)
    from vlmcli.testing import build_tiny_checkpoint

    return build_tiny_checkpoint(family, out)


def bench_family(family: str, args: argparse.Namespace) -> dict:
    from vlmcli.engine import Engine, EngineConfig

    work = Path(tempfile.mkdtemp(prefix=f"bench-continuous-{family}-"))
    model = build_model(family, work / "model")
    images = work / "images"
    images.mkdir()
    paths = make_images(images, args.images)
    engine = Engine.load(EngineConfig(model=str(model), device="cpu", dtype="float32", feature_cache_entries=0))
    eos = make_eos_prone(engine, paths, tokens=args.tokens)
    sides = list(DESCRIBE_SIDES) if args.command == "describe" else ["static", "continuous"]
    runs: dict[str, list[dict]] = {side: [] for side in sides}
    for _ in range(args.repeats):
        for side in sides:
            if args.command == "describe":
                runs[side].append(describe(engine, paths, side=side, args=args))
            else:
                runs[side].append(caption(engine, images, static=side == "static", args=args))
    best = {side: max(results, key=lambda r: r["images_per_s"]) for side, results in runs.items()}
    for side in sides:
        assert best[side]["captions"] == best["continuous"]["captions"], f"{side} and continuous captions differ"
    return {
        "family": family,
        "eos_prone": eos,
        "lengths": best["static"]["lengths"],
        "sides": sides,
        **{side: {k: v for k, v in best[side].items() if k not in ("captions", "lengths")} for side in sides},
        "speedup": best["continuous"]["images_per_s"] / best["static"]["images_per_s"],
        "rates": {side: [round(r["images_per_s"], 3) for r in results] for side, results in runs.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", nargs="+", default=["idefics3", "qwen2_vl", MID_SIZE],
                        help=f"tiny checkpoints by family name (vlmcli.testing), or {MID_SIZE}")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=64, help="--max-tokens (captions end earlier at EOS)")
    parser.add_argument("--slots", type=int, default=8, help="--batch-size: decode slots / static batch size")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs per side (best reported)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default; see below)")
    parser.add_argument("--keep-denormals", action="store_true", help="do not flush subnormal floats to zero")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--command", choices=["caption-dir", "describe"], default="caption-dir")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(not args.keep_denormals)
    print(f"{args.command}: torch threads: {torch.get_num_threads()}; {args.images} images, --max-tokens {args.tokens}, "
          f"--batch-size {args.slots}, best of {args.repeats}; denormals {'kept' if args.keep_denormals else 'flushed'}")
    reports = []
    for family in args.family:
        rep = bench_family(family, args)
        reports.append(rep)
        lengths = rep["lengths"]
        print(f"\n{family}: caption lengths min {lengths[0]} / median {lengths[len(lengths) // 2]} / max {lengths[-1]} "
              f"tokens ({sum(lengths)} in all); captions identical on both sides")
        print(f"  {'side':<14} {'images/s':>9} {'seconds':>8} {'decode steps':>13} {'row-steps':>10} {'wasted':>8}  mode")
        for side in rep["sides"]:
            r = rep[side]
            share = r["wasted_row_steps"] / r["row_steps"] if r["row_steps"] else 0.0
            print(f"  {side:<14} {r['images_per_s']:>9.2f} {r['seconds']:>8.2f} {r['decode_steps']:>13} "
                  f"{r['row_steps']:>10} {r['wasted_row_steps']:>8} ({share:.0%})  {r['mode']}")
        print(f"  continuous / static images/s: {rep['speedup']:.2f}x   (all runs: {rep['rates']})")
        if "one at a time" in rep:
            ratio = rep["continuous"]["images_per_s"] / rep["one at a time"]["images_per_s"]
            print(f"  continuous / one at a time images/s: {ratio:.2f}x")
        assert rep["continuous"]["wasted_row_steps"] == 0
    if args.json_out:
        args.json_out.write_text(json.dumps(reports, indent=2))


if __name__ == "__main__":
    main()
