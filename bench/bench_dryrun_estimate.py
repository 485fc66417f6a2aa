"""How close `vlm caption-dir --dry-run`'s time estimate comes to the real run.

The dry run times one planned batch and applies its per-stage rates to every batch
(`vlmcli/captions/estimate.py`); this runs the dry run and then the real job in one
process, on the same photos, and prints estimate / real for each model.

    python bench/bench_dryrun_estimate.py                       # tiny Qwen2-VL and models/reference
    python bench/bench_dryrun_estimate.py --model /path/to/ckpt --photos 6 --max-tokens 32
    python bench/bench_dryrun_estimate.py --both-batchings  # each model continuous, then --static-batching
    python bench/bench_dryrun_estimate.py --clips 6          # 6 synthetic clips beside the photos, --videos

Figures: bench/RESULTS.md, "caption-dir `--dry-run` estimate against the real run".
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHOTOS = ("astronaut", "chelsea", "coffee", "camera")


def write_photos(root: Path, count: int) -> Path:
    """`count` scikit-image photos at growing sizes (160-688 px wide for 12), as PNG."""
    import numpy as np
    import skimage.data
    from PIL import Image

    root.mkdir(parents=True)
    for i in range(count):
        array = getattr(skimage.data, PHOTOS[i % len(PHOTOS)])()
        if array.ndim == 2:
            array = np.stack([array] * 3, axis=-1)
        side = 160 + 48 * i
        Image.fromarray(array[..., :3]).resize((side, side * 3 // 4)).save(root / f"p{i:02d}.png")
    return root


def write_clips(root: Path, count: int) -> None:
    """`count` 4-second 320x240 H.264 clips (a panning gradient with a moving box) into `root`."""
    from vlmcli.testing.media.video_clips import render_motion, write_video

    for i in range(count):
        write_video(root / f"c{i:02d}.mp4", render_motion(100, width=320, height=240, seed=i), fps=25, gop=25)


def ratio(
    model: Path, work: Path, *, photos: int, max_tokens: int, batch_size: int, static: bool = False, clips: int = 0
) -> tuple[float, float, dict]:
    """(estimate seconds, real seconds, the estimate's details) for one model."""
    from vlmcli.captions.config import CaptionJob
    from vlmcli.captions.dryrun import dry_run
    from vlmcli.captions.pipeline import run
    from vlmcli.captions.progress import NullProgress
    from vlmcli.captions.summary import Summary
    from vlmcli.commands import _runtime
    from vlmcli.engine.config import EngineConfig, GenerationConfig
    from vlmcli.sinks import OutputFormat, SinkConfig, make_sink

    from vlmcli.captions.config import VideoCaptioning
    from vlmcli.video.sampling import SamplingOptions

    folder = write_photos(work / "photos", photos)
    write_clips(folder, clips)
    job = CaptionJob(
        engine=EngineConfig(model=str(model)),
        generation=GenerationConfig(max_tokens=max_tokens),
        inputs=(str(folder),),
        batch_size=batch_size,
        static_batching=static,
        videos=VideoCaptioning(options=SamplingOptions(frames=4)) if clips else None,
    )
    dry_sink = make_sink(OutputFormat.PARQUET, SinkConfig(output=work / "dry"))
    report = dry_run(job, dry_sink, load_engine=_runtime.load_engine, progress=NullProgress())
    start = time.perf_counter()
    real_sink = make_sink(OutputFormat.PARQUET, SinkConfig(output=work / "real"))
    summary = run(job, real_sink, load_engine=_runtime.load_engine, progress=NullProgress(), summary=Summary())
    real = time.perf_counter() - start
    if summary.ok != photos + clips:
        raise SystemExit(f"{model}: the real run captioned {summary.ok} of {photos} photos and {clips} clips")
    return report.estimate.seconds, real, report.estimate.to_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, action="append", help="checkpoint folder (repeatable)")
    parser.add_argument("--photos", type=int, default=12)
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--both-batchings", action="store_true", help="also run each model with --static-batching")
    parser.add_argument("--clips", type=int, default=0, help="synthetic clips beside the photos, captioned with --videos")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        models = args.model
        if not models:
            from vlmcli.testing import build_tiny_checkpoint

            models = [build_tiny_checkpoint("qwen2_vl", Path(tmp) / "tiny-qwen2_vl"), ROOT / "models" / "reference"]
        for i, model in enumerate(models):
            for static in (False, True) if args.both_batchings else (False,):
                estimate, real, details = ratio(
                    model, Path(tmp) / f"run{i}-{static}", photos=args.photos, max_tokens=args.max_tokens,
                    batch_size=args.batch_size, static=static, clips=args.clips,
                )  # fmt: skip
                print(f"{model.name}: estimate {estimate:.2f} s vs real {real:.2f} s: ratio {estimate / real:.2f}  "
                      f"({details['source']})")  # fmt: skip


if __name__ == "__main__":
    main()
