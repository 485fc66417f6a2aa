"""Shared pytest fixtures."""

from collections.abc import Callable
from pathlib import Path

import pytest


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
