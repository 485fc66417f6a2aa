"""The options `export` and `report` take to read a dataset run's pictures back from its
shards: the --image-column, --key-column and --image-root the caption run used. The run
keeps them in its output folder (`inputs/readings.py`); given here, they win."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from vlmcli.inputs.readings import ShardReadings

ImageColumn = Annotated[
    Optional[str],
    typer.Option(
        "--image-column", metavar="NAME", show_default=False,
        help="Dataset inputs: the --image-column to read items with (default: the run's own, kept in its folder).",
    ),
]
KeyColumn = Annotated[
    Optional[str],
    typer.Option(
        "--key-column", metavar="NAME", show_default=False,
        help="Dataset inputs: the --key-column to read items with (default: the run's own, kept in its folder).",
    ),
]
ImageRoot = Annotated[
    Optional[Path],
    typer.Option(
        "--image-root", metavar="DIR", show_default=False,
        help="Dataset inputs: the --image-root to read items with (default: the run's own, kept in its folder).",
    ),
]


def shard_readings(
    captions_dir: Path, image_column: str | None, key_column: str | None, image_root: Path | None
) -> "ShardReadings":
    """How to read the run's shards back: its notes under those options (imported here, not at `vlm --help`)."""
    from vlmcli.inputs.columns import ColumnChoice
    from vlmcli.inputs.readings import ShardReadings

    flags = ColumnChoice(image_column=image_column, key_column=key_column, image_root=image_root)
    return ShardReadings.of_run(captions_dir, flags)
