"""Shared pytest fixtures, and how the suite is spread over processes.

README's test command runs the suite with pytest-xdist (`-n auto --dist worksteal`): most
tests wait on a subprocess or on file I/O, so one process keeps two cores less than half
busy. The tests marked `slow` (minutes each: the field run, the GPU check's CPU dry run, a
compile) are started first, so that none of them is left to run alone at the end; work
stealing then evens out the rest.
"""

import os
from collections.abc import Callable
from pathlib import Path

import pytest


def _share_the_cores() -> None:
    """Under xdist, each worker (and the `vlm` processes its tests start) gets its share of the
    cores as its thread count. Left at the default, two workers run four busy-waiting OpenMP
    threads on two cores: the suite took a third more CPU time (1,250 s against 940 s) and
    696 s instead of 542 s on two cores (`bench/RESULTS.md`, "The test suite's wall time")."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = str(max(1, _cores() // workers))


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_share_the_cores()  # before anything imports torch, which reads OMP_NUM_THREADS once

MAX_AUTO_WORKERS = 4
"""`-n auto` stops here: every worker holds torch and its own tiny checkpoints (~2 GB), and
more workers than this buy little on a suite whose longest test takes minutes."""


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    return max(1, min(MAX_AUTO_WORKERS, _cores()))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: slow first


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """`tiny_checkpoint(family) -> folder`: a tiny random checkpoint, built once per session.

    Example: `model_dir = tiny_checkpoint("qwen2_vl")`; load it with `from_pretrained(model_dir)`.
    """
    from vlmcli.testing import build_tiny_checkpoint

    built: dict[str, Path] = {}

    def get(family: str) -> Path:
        if family not in built:
            out_dir = tmp_path_factory.mktemp(f"tiny-{family}")
            built[family] = build_tiny_checkpoint(family, out_dir)
        return built[family]

    return get
