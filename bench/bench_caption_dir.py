"""caption-dir throughput: the in-process pipeline against a plain transformers loop.

    python bench/bench_caption_dir.py [--model DIR] [--images 24] [--batch-size 0] [--tokens 64] [--hf-batch-size 4]
                                      [--compile] [--int8] [--device auto|cpu|cuda] [--json-out FILE]

Both sides caption the same distinct JPEG files (crops and flips of the bundled photos)
with the same model and prompt, generating exactly `--tokens` new tokens (EOS ignored:
`GenerationConfig(ignore_eos=True)` / `min_new_tokens`). Each side runs in its own
process, so its peak RSS is its own; model loading is excluded from both rates.

- pipeline: `vlmcli.captions.pipeline.run` (what `vlm caption-dir` runs): hashing,
  batching by size, background decoding, batched engine calls, Parquet shards.
- transformers: for each file, PIL open -> processor(chat template, image) ->
  `model.generate(do_sample=False)`, one image at a time.
- hf-pipeline: transformers' own `pipeline("image-text-to-text")` on all files with
  `batch_size=--hf-batch-size` (chat messages with the image, greedy, same token count).
- pipeline-compile (with `--compile`): the pipeline with `vlm caption-dir --compile`, in
  steady state: one engine first captions the same files once (compiling the decode step
  for the batch shapes the job uses; that time is reported in the note), then, with its
  vision-feature cache emptied (so every image is encoded again), the timed run. A long
  job pays the compile once, so its rate approaches this one.
- pipeline-int8 (with `--int8`): the pipeline with `vlm caption-dir --quantize int8` (CPU).

Default model: a tiny random idefics3 checkpoint built on the fly (fast, measures the
pipeline's overheads more than the model). For a real-size model:
`python -c "from vlmcli.testing import build_smolvlm_256m_random as b; b('/tmp/smol')"`
then `--model /tmp/smol`. `--dtype float32` (default) makes both sides do the same
arithmetic; `--dtype auto` shows the engine's own CPU default (transformers stays float32).
On a GPU, `--dtype auto` runs both sides in bfloat16. `--device` pins every side to one
device (default: the engine's choice, cuda when present); `--json-out` also writes the
reports and ratios as JSON (bench/gpu/check.sh collects them).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPT = "Describe this image in one or two sentences."


def make_images(folder: Path, count: int) -> list[Path]:
    """`count` distinct JPEGs: crops, flips and rotations of the six bundled photos."""
    import random

    from PIL import ImageOps

    from vlmcli.testing import sample_photos

    rnd = random.Random(0)
    photos = sample_photos()
    paths = []
    for i in range(count):
        image = photos[i % len(photos)]
        w, h = image.size
        left, top = rnd.randint(0, w // 5), rnd.randint(0, h // 5)
        image = image.crop((left, top, w - rnd.randint(0, w // 5), h - rnd.randint(0, h // 5)))
        if i // len(photos) % 2:
            image = ImageOps.mirror(image)
        path = folder / f"img{i:04d}.jpg"
        image.save(path, quality=90)
        paths.append(path)
    return paths


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def report(*, images: int, seconds: float, load_s: float, note: str = "") -> dict:
    """One side's JSON report (rates exclude model loading; peak RSS is this process's)."""
    return {
        "images": images, "seconds": seconds, "images_per_s": images / seconds, "load_s": load_s,
        "peak_rss_mb": peak_rss_mb(), "note": note,
    }


def transformers_device(args: argparse.Namespace) -> tuple[str, "object"]:
    """Device and dtype for the transformers sides: bf16 on a GPU unless --dtype float32."""
    import torch

    device = args.device if args.device != "auto" else "cuda" if torch.cuda.is_available() else "cpu"
    return device, torch.bfloat16 if device == "cuda" and args.dtype != "float32" else torch.float32


def caption_job(
    model: str, images: Path, args: argparse.Namespace, *, load_engine, compiled: bool = False, quantize: str = "none"
):
    """Run the caption-dir pipeline once; (summary, seconds without model loading)."""
    from vlmcli.captions.config import CaptionJob
    from vlmcli.captions.pipeline import run
    from vlmcli.captions.progress import NullProgress
    from vlmcli.captions.summary import Summary
    from vlmcli.engine import EngineConfig, GenerationConfig
    from vlmcli.sinks import OutputFormat, SinkConfig, make_sink

    out = Path(tempfile.mkdtemp(prefix="bench-caption-out-"))
    job = CaptionJob(
        engine=EngineConfig(model=model, device=args.device, dtype=args.dtype, compile=compiled, quantize=quantize),
        generation=GenerationConfig(max_tokens=args.tokens, ignore_eos=True),
        inputs=(str(images),),
        prompts=(PROMPT,),
        batch_size=args.batch_size,
        decode_threads=args.decode_threads,
    )
    start = time.perf_counter()
    sink = make_sink(OutputFormat.PARQUET, SinkConfig(output=out))
    summary = run(job, sink, load_engine=load_engine, progress=NullProgress(), summary=Summary())
    wall = time.perf_counter() - start
    import pyarrow.parquet as pq

    rows = pq.read_table(out).to_pylist()
    assert summary.error == 0 and all(r["completion_tokens"] == args.tokens for r in rows), "every caption must be full length"
    return summary, wall - summary.load_s


def run_pipeline(model: str, images: Path, args: argparse.Namespace) -> dict:
    from vlmcli.engine.engine import Engine

    summary, seconds = caption_job(model, images, args, load_engine=Engine.load)
    return report(images=summary.ok, seconds=seconds, load_s=summary.load_s)


def run_pipeline_int8(model: str, images: Path, args: argparse.Namespace) -> dict:
    from vlmcli.engine.engine import Engine

    summary, seconds = caption_job(model, images, args, load_engine=Engine.load, quantize="int8")
    return report(images=summary.ok, seconds=seconds, load_s=summary.load_s)


def run_pipeline_compiled(model: str, images: Path, args: argparse.Namespace) -> dict:
    """`--compile` in steady state: a first pass over the files compiles, the second is timed."""
    from vlmcli.engine.cache import FeatureCache
    from vlmcli.engine.engine import Engine

    engines: list[Engine] = []

    def load_once(config):
        if not engines:
            engines.append(Engine.load(config))
        return engines[0]

    first, compile_s = caption_job(model, images, args, load_engine=load_once, compiled=True)
    engine = engines[0]
    engine.cache = FeatureCache(max_entries=engine.config.feature_cache_entries)  # no vision-feature hits
    summary, seconds = caption_job(model, images, args, load_engine=load_once, compiled=True)
    assert summary.ok and len(engine.cache) > 0, "the timed pass must encode every image again"
    return report(images=summary.ok, seconds=seconds, load_s=first.load_s, note=f"first pass (compiling) {compile_s:.0f} s")


def run_transformers(model: str, images: Path, args: argparse.Namespace) -> dict:
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    device, dtype = transformers_device(args)
    start = time.perf_counter()
    processor = AutoProcessor.from_pretrained(model)
    net = AutoModelForImageTextToText.from_pretrained(model, dtype=dtype).to(device).eval()
    load_s = time.perf_counter() - start
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": PROMPT}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    files = sorted(images.glob("*.jpg"))
    start = time.perf_counter()
    with torch.inference_mode():
        for path in files:
            image = Image.open(path).convert("RGB")
            inputs = processor(text=[text], images=[[image]], return_tensors="pt").to(device)
            if "pixel_values" in inputs:
                inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
            out = net.generate(**inputs, do_sample=False, max_new_tokens=args.tokens, min_new_tokens=args.tokens)
            assert out.shape[1] - inputs["input_ids"].shape[1] == args.tokens
    seconds = time.perf_counter() - start
    return report(images=len(files), seconds=seconds, load_s=load_s)


def run_hf_pipeline(model: str, images: Path, args: argparse.Namespace) -> dict:
    from PIL import Image
    from transformers import pipeline

    device, dtype = transformers_device(args)
    start = time.perf_counter()
    pipe = pipeline("image-text-to-text", model=model, device=device, dtype=dtype)
    load_s = time.perf_counter() - start
    files = sorted(images.glob("*.jpg"))
    start = time.perf_counter()
    chats = [
        [{"role": "user", "content": [{"type": "image", "image": Image.open(p).convert("RGB")}, {"type": "text", "text": PROMPT}]}]
        for p in files
    ]
    generate = {"do_sample": False, "max_new_tokens": args.tokens, "min_new_tokens": args.tokens}
    note = ""
    try:
        out = pipe(text=chats, batch_size=args.hf_batch_size, return_full_text=False, generate_kwargs=generate)
    except RuntimeError as err:  # its collate cannot stack images of different tile counts (SmolVLM)
        note = f"batch {args.hf_batch_size} failed ({str(err).splitlines()[0][:80]}); ran batch 1"
        start = time.perf_counter()
        out = pipe(text=chats, batch_size=1, return_full_text=False, generate_kwargs=generate)
    seconds = time.perf_counter() - start
    assert len(out) == len(files)
    return report(images=len(files), seconds=seconds, load_s=load_s, note=note)


RUNNERS = {
    "pipeline": run_pipeline,
    "transformers": run_transformers,
    "hf-pipeline": run_hf_pipeline,
    "pipeline-compile": run_pipeline_compiled,
    "pipeline-int8": run_pipeline_int8,
}


def child(mode: str, model: str, images: Path, args: argparse.Namespace) -> dict:
    """Run one side in a fresh process (its own peak RSS) and return its JSON report."""
    cmd = [sys.executable, __file__, "--child", mode, "--model", model, "--image-dir", str(images)]
    cmd += ["--tokens", str(args.tokens), "--batch-size", str(args.batch_size), "--dtype", args.dtype]
    cmd += ["--decode-threads", str(args.decode_threads), "--hf-batch-size", str(args.hf_batch_size)]
    cmd += ["--device", args.device]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default: a tiny idefics3 checkpoint built now)")
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=0, help="pipeline requests per engine call (0: automatic)")
    parser.add_argument("--decode-threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--dtype", default="float32", choices=["float32", "auto", "bfloat16"])
    parser.add_argument("--hf-batch-size", type=int, default=4, help="batch size of transformers' pipeline side")
    parser.add_argument("--compile", action="store_true", help="also run the pipeline with --compile (steady state)")
    parser.add_argument("--int8", action="store_true", help="also run the pipeline with --quantize int8")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="device of every side (auto: the engine's choice; transformers: cuda when present)")
    parser.add_argument("--json-out", help="also write the reports and ratios to this JSON file")
    parser.add_argument("--child", choices=list(RUNNERS), help=argparse.SUPPRESS)
    parser.add_argument("--image-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(RUNNERS[args.child](args.model, Path(args.image_dir), args)))
        return

    import torch

    work = Path(tempfile.mkdtemp(prefix="bench-caption-"))
    model = args.model
    if model is None:
        from vlmcli.testing import build_tiny_checkpoint

        model = str(build_tiny_checkpoint("idefics3", work / "tiny-idefics3"))
    images = work / "images"
    images.mkdir()
    make_images(images, args.images)
    print(f"model: {model}; {args.images} images; {args.tokens} new tokens (EOS ignored); dtype {args.dtype}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus, cuda={torch.cuda.is_available()}")
    modes = ("transformers", "hf-pipeline", "pipeline") + (("pipeline-compile",) if args.compile else ())
    modes += ("pipeline-int8",) if args.int8 else ()
    reports = {mode: child(mode, model, images, args) for mode in modes}
    print(f"{'side':<18}{'images':>8}{'seconds':>10}{'images/s':>10}{'load s':>8}{'peak RSS MB':>13}")
    for mode, r in reports.items():
        print(f"{mode:<18}{r['images']:>8}{r['seconds']:>10.2f}{r['images_per_s']:>10.2f}{r['load_s']:>8.2f}"
              f"{r['peak_rss_mb']:>13.0f}  {r['note']}")
    ratios = {}
    for ours in modes[2:]:
        for other in ("transformers", "hf-pipeline"):
            ratio = reports[ours]["images_per_s"] / reports[other]["images_per_s"]
            ratios[f"{ours} / {other}"] = ratio
            print(f"{ours} / {other}: {ratio:.2f}x images/s")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({
            "model": model, "images": args.images, "tokens": args.tokens, "dtype": args.dtype, "device": args.device,
            "torch": torch.__version__, "cuda": torch.cuda.is_available(), "reports": reports, "ratios": ratios,
        }, indent=1))


if __name__ == "__main__":
    main()
