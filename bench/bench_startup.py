"""Start-up cost: `vlm --help` and `vlm ask --help` against `python -c pass`, side by side.

    python bench/bench_startup.py [--repeats 20]

Prints the median wall time of each and the extra time vlmcli adds over a bare interpreter.
The help path must import no torch/transformers (tests/test_cli_subprocess.py checks that).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "vlm --help": [sys.executable, "-m", "vlmcli", "--help"],
    "vlm ask --help": [sys.executable, "-m", "vlmcli", "ask", "--help"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeats):  # interleaved, so machine noise hits every command alike
        for name, cmd in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["python -c pass"])
    print(f"{'command':<18}{'median s':>10}{'over python':>14}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<18}{median:>10.3f}{median - base:>14.3f}")


if __name__ == "__main__":
    main()
