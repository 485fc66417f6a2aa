"""Video path costs: sparse sampling vs decoding everything, summarize memory, prefill vs tokens.

    python bench/bench_video.py [--part a|b|c] [--minutes 1 10 60] [--size 64x48]

(a) Time to sample N frames (uniform: probe + sparse decode; keyframe: + thumbnail scan)
    from synthetic 1-, 10- and 60-minute videos, against decoding every frame.
(b) Peak RSS of `vlm video-summarize` (tiny Qwen2-VL checkpoint, own process each) as the
    video grows: segments are decoded one at a time, so it should stay flat.
(c) Prefill time against visual tokens on the real-size random SmolVLM2-256M for a
    32-frame clip (--frames): none, --compress pool:2, --compress perceiver:16/4 (M latents
    per frame), --temporal-pool 2/4. `--frames 16` is 1,024 visual tokens, and perceiver:4
    resamples them to 64: the issue's "perceiver:64 on ~1,000 tokens" case.
    Same loaded weights for every setting (the adapter's reduction is swapped); features are
    cached after the first run, so only the reduction and the prefill differ. One torch
    thread by default (--threads): on a shared 2-core machine two threads oversubscribe and
    each op waits on a descheduled thread, adding seconds per prefill that hide the trend.

Synthetic videos (64x48 unless --size, 10 fps, a keyframe every 5 s, ffmpeg's testsrc2) are
written once under $TMPDIR/vlmcli-bench-video and reused.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path(tempfile.gettempdir()) / "vlmcli-bench-video"
FPS, GOP = 10, 50
N_FRAMES = 32


def synthetic(minutes: int, size: str = "64x48") -> Path:
    """A test-pattern video of `minutes` minutes at `size` (cached)."""
    import imageio_ffmpeg

    path = CACHE / f"testsrc_{minutes}min_{size}.mp4"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.mp4")
        subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
             "-i", f"testsrc2=size={size}:rate={FPS}:duration={minutes * 60}", "-c:v", "libx264",
             "-preset", "ultrafast", "-g", str(GOP), "-pix_fmt", "yuv420p", str(tmp)],
            check=True,
        )
        tmp.rename(path)
    return path


def decode_all(path: Path) -> int:
    """Every frame, in chunks (what a decode-then-subsample loader does)."""
    import decord

    vr = decord.VideoReader(str(path), ctx=decord.cpu(0))
    n = len(vr)
    for start in range(0, n, 512):
        vr.get_batch(list(range(start, min(n, start + 512)))).asnumpy()
    return n


def part_a(minutes: list[int], size: str) -> None:
    from vlmcli.video.sample import sample_video
    from vlmcli.video.sampling import SamplingOptions

    print(f"(a) sample {N_FRAMES} frames vs decode every frame ({size}, {FPS} fps)")
    print(f"{'video':>8}{'frames':>8}{'uniform s':>11}{'keyframe s':>12}{'all s':>9}{'all/uniform':>13}")
    for m in minutes:
        path = synthetic(m, size)
        options = SamplingOptions(frames=N_FRAMES)
        t0 = time.perf_counter()
        sample_video(path, method="uniform", options=options)
        uniform = time.perf_counter() - t0
        t0 = time.perf_counter()
        sample_video(path, method="keyframe", options=options)
        keyframe = time.perf_counter() - t0
        t0 = time.perf_counter()
        count = decode_all(path)
        everything = time.perf_counter() - t0
        print(f"{m:>6}min{count:>8}{uniform:>11.2f}{keyframe:>12.2f}{everything:>9.2f}{everything / uniform:>12.0f}x")


def peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of one child process, measured by the kernel (wait4)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-500:]}")
    return usage.ru_maxrss / 1024, wall


def part_b(minutes: list[int]) -> None:
    from vlmcli.testing import build_tiny_checkpoint

    folder = CACHE / "tiny-qwen2_vl"
    if not (folder / "config.json").exists():
        build_tiny_checkpoint("qwen2_vl", folder)
    print("(b) peak RSS of `vlm video-summarize` (tiny Qwen2-VL, --frames 8 --max-tokens 4)")
    print(f"{'video':>8}{'segments':>10}{'peak MB':>9}{'wall s':>8}")
    for m in minutes:
        path = synthetic(m)
        base = [sys.executable, "-m", "vlmcli", "video-summarize", str(path), "-m", str(folder), "--offline",
                "--frames", "8", "--max-tokens", "4"]
        plan = subprocess.run([*base, "--dry-run"], check=True, capture_output=True, text=True).stdout
        segments = plan.strip().splitlines()[-1].split(", ")[1]
        rss, wall = peak_rss_mb(base)
        print(f"{m:>6}min{segments.split()[0]:>10}{rss:>9.0f}{wall:>8.1f}")


def part_c(repeats: int = 2, n_frames: int = N_FRAMES) -> None:
    import numpy as np

    from vlmcli.engine import Engine, EngineConfig, GenerationConfig, Request
    from vlmcli.engine.video_input import VideoInput
    from vlmcli.reduction.compress import parse_compress
    from vlmcli.reduction.reducer import Reducer, TokenReduction
    from vlmcli.reduction.temporal import parse_temporal_pool
    from vlmcli.testing import build_smolvlm_256m_random

    folder = CACHE / "smolvlm-256m-random"
    if not (folder / "config.json").exists():
        build_smolvlm_256m_random(folder)
    engine = Engine.load(EngineConfig(model=str(folder), device="cpu", dtype="float32"))
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (n_frames, 360, 640, 3), dtype=np.uint8)  # (T, H, W, 3)
    frames[n_frames // 2 :] = frames[n_frames // 2]  # a second, static half (for sim pooling)
    video = VideoInput(frames=frames, timestamps=[i * 0.5 for i in range(n_frames)], fps=30.0, source="clip")
    request = Request(prompt="Describe this video.", videos=(video,))
    gen = GenerationConfig(max_tokens=1)
    settings = [("none", "none"), ("none", "pool:2"), ("none", "perceiver:16"), ("none", "perceiver:4"), ("2", "none"),
                ("4", "none"), ("sim:0.99", "none"), ("2", "pool:2")]
    runs: dict[tuple[str, str], list] = {s: [] for s in settings}
    for round_ in range(repeats + 1):  # round 0 warms up (and fills the feature cache); rounds interleave
        for temporal, compress in settings:
            reduction = TokenReduction(temporal=parse_temporal_pool(temporal), compress=parse_compress(compress))
            engine.adapter.reduction, engine.adapter.reducer = reduction, Reducer(reduction)
            result = engine.generate([request], gen)[0]
            if round_:
                runs[(temporal, compress)].append(result)
    import torch

    print(
        f"(c) prefill vs visual tokens: SmolVLM2-256M (random), {n_frames} frames, float32 CPU, "
        f"{torch.get_num_threads()} thread(s), best of {repeats}"
    )
    print(f"{'temporal':>9}{'compress':>14}{'visual':>8}{'prompt':>8}{'prefill s':>11}{'vs none':>9}{'tok/s':>8}")
    base = min(r.timings.prefill_s for r in runs[settings[0]])
    for (temporal, compress), results in runs.items():
        prefill = min(r.timings.prefill_s for r in results)  # the least disturbed run (shared CPU)
        r = results[0]
        print(f"{temporal:>9}{compress:>14}{r.visual_tokens:>8}{r.prompt_tokens:>8}{prefill:>11.3f}"
              f"{prefill / base:>8.2f}x{r.prompt_tokens / prefill:>8.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["a", "b", "c"], action="append")
    parser.add_argument("--minutes", type=int, nargs="+", default=[1, 10, 60])
    parser.add_argument("--size", default="64x48", help="frame size of the (a) videos, WxH")
    parser.add_argument("--frames", type=int, default=N_FRAMES, help="clip length for (c); 16 frames = 1024 visual tokens")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads for (c); 1 avoids oversubscription on a shared CPU"
    )
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    parts = args.part or ["a", "b", "c"]
    if "a" in parts:
        part_a(args.minutes, args.size)
    if "b" in parts:
        part_b(args.minutes)
    if "c" in parts:
        part_c(n_frames=args.frames)


if __name__ == "__main__":
    main()
