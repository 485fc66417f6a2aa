"""Listing a deep folder tree: vlmcli's walk (`inputs/walk.py`: one scandir pass, the output
folder told by (st_dev, st_ino)) vs the walk it replaced (os.walk, each subfolder's path
resolved to compare it with the output folder, as `formats._walk` did before session 23).

    python bench/bench_folder_scan.py [--folders 20000] [--files 3000]

Builds a tree of empty `.png` files in nested folders (depth ~10, most folders empty, as a
photo archive split by date and camera), checks both walks list the same files in the same
order, and prints the best of 3 times and their ratio, side by side in one run.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

from vlmcli.inputs.walk import list_tree


def build(root: Path, *, folders: int, files: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    made = [root]
    for i in range(folders):
        parent = rng.choice(made[-200:]) if len(made) > 1 else root
        child = parent / f"d{i:05d}"
        child.mkdir()
        made.append(child)
    for i in range(files):
        (rng.choice(made) / f"img{i:05d}.png").touch()


def old_walk(folder: Path, exclude: Path) -> list[str]:
    """The replaced walk: os.walk, every subfolder resolved to leave the output folder out."""
    skip = exclude.resolve()
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and Path(root, d).resolve() != skip)
        found += [os.path.relpath(os.path.join(root, n), folder) for n in sorted(names) if not n.startswith(".")]
    return found


def best_of(fn, runs: int = 3) -> tuple[float, list[str]]:
    times, out = [], []
    for _ in range(runs):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folders", type=int, default=20000)
    parser.add_argument("--files", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "photos"
        root.mkdir()
        build(root, folders=args.folders, files=args.files)
        out = Path(tmp) / "photos" / "d00000" / "captions"
        out.mkdir()
        old_s, old = best_of(lambda: old_walk(root, out))
        new_s, new = best_of(lambda: list_tree(root, exclude=out).files)
        assert old == new, "the two walks list different files"
        print(f"{args.folders:,} folders, {len(new):,} files (best of 3)")
        print(f"  os.walk + resolve per folder: {old_s:.3f} s")
        print(f"  inputs.walk.list_tree:        {new_s:.3f} s")
        print(f"  ratio: {old_s / new_s:.1f}x")


if __name__ == "__main__":
    main()
