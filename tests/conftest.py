"""Shared pytest fixtures, and how the suite is spread over processes.

README's test command runs the suite with pytest-xdist (`-n auto --dist worksteal`): most
tests wait on a subprocess or on file I/O, so one process keeps two cores less than half
busy. The tests marked `slow` (minutes each: the field run, the GPU check's CPU dry run, a
compile) are started first, so that none of them is left to run alone at the end.
"""

import os
from collections.abc import Callable
from pathlib import Path

import pytest

MAX_AUTO_WORKERS = 4
"""`-n auto` stops here: every worker holds torch and its own tiny checkpoints (~2 GB), and
more workers than this buy little on a suite whose longest test takes minutes."""


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    return max(1, min(MAX_AUTO_WORKERS, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


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
