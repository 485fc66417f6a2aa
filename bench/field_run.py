"""Issue 15's list, run as a new user would: real `vlm` processes on media other programs wrote.

Every check runs the installed CLI (`python -m vlmcli`) in a subprocess, with stderr
redirected to a file (as in a batch job), on media made here by other programs: scikit-image
photos saved by Pillow, clips encoded by ffmpeg (imageio-ffmpeg's binary) in several codecs
and containers, a truncated PNG, a file name that is not UTF-8. The model is the reference
model that ships in `models/reference` (real weights, answers real questions), so nothing
is downloaded.

    python bench/field_run.py            # all checks, a 10-minute cut-heavy video included
    python bench/field_run.py --quick    # the same checks with a 3-minute long video (CI)
    python bench/field_run.py --keep DIR # keep the generated media and logs in DIR
    python bench/field_run.py --timing   # also fail when the dry-run estimate is over 2x off

Prints one line per check (PASS/FAIL and what was seen) and exits 1 if any failed.
`tests/test_field_run.py` runs it with `--quick`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import field_checks  # noqa: E402,F401  - registers the checks with @check
from bench.field_media import make_media  # noqa: E402
from bench.field_support import CHECKS, Failed, Runner  # noqa: E402



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 3-minute long video instead of 10 minutes")
    parser.add_argument("--keep", type=Path, help="folder for media and logs (kept); default a temp folder")
    parser.add_argument("--timing", action="store_true", help="also fail on timings (dry-run estimate within 2x)")
    parser.add_argument("--only", default="", help="run only checks whose title contains this text")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="vlm-field-"))
    work.mkdir(parents=True, exist_ok=True)
    media = make_media(work / "media", long_minutes=3 if args.quick else 10)
    runner = Runner(work, timing=args.timing)
    failed = ran = 0
    for title, fn in CHECKS:
        if args.only and args.only not in title:
            continue
        ran += 1
        start = time.perf_counter()
        try:
            seen = fn(runner, media)
            status = "PASS"
        except (Failed, AssertionError, json.JSONDecodeError, KeyError, subprocess.TimeoutExpired) as exc:
            seen, status = f"{type(exc).__name__}: {exc}", "FAIL"
            failed += 1
        print(f"{status}  {title}  ({time.perf_counter() - start:.1f} s)  {seen}", flush=True)
    print(f"{ran - failed} passed, {failed} failed", flush=True)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
