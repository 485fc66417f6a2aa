"""`vlm export` and `vlm report` over a run that is still captioning: they read the rows
published so far, and say so (the run's folder lock tells)."""

from __future__ import annotations

import sys
from pathlib import Path


def note_run_in_progress(captions_dir: Path) -> None:
    """A run still writing the folder: one note on stderr."""
    from vlmcli.sinks.lock import run_in_progress

    holder = run_in_progress(captions_dir)
    if holder is not None:
        sys.stderr.write(
            f"note: a caption run is still writing {captions_dir} ({holder}): this reads the rows published so far.\n"
        )
