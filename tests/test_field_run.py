"""Issue 15's whole list, end to end, as a new user would run it (`bench/field_run.py --quick`).

Real `vlm` processes with stderr in a file, on media other programs wrote (Pillow,
ffmpeg in five codecs, a truncated PNG, a Latin-1 file name), with the reference model.
Each line of the script's output is one reported breakage; all must pass.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_field_run_passes(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "field_run.py"), "--quick", "--keep", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=1500,
    )
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    assert "FAIL" not in report, report
    assert " 0 failed" in report, report
