"""A model folder put into huggingface_hub's cache layout, as a download leaves it:
`models--org--name/snapshots/<commit>/` and `refs/main` naming that commit."""

from __future__ import annotations

import shutil
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def put_in_hub_cache(root: Path, repo_id: str, checkpoint: Path, *, commit: str = COMMIT) -> Path:
    """Copy `checkpoint` into the cache at `root` as `repo_id`'s `main`; its snapshot folder."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    shutil.copytree(checkpoint, snapshot)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot
