"""The options `export` and `report` take to read a dataset run's pictures back from its
shards: the --image-column, --key-column and --image-root the caption run used."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from vlmcli.inputs.columns import ColumnChoice

ImageColumn = Annotated[
    Optional[str], typer.Option("--image-column", metavar="NAME", help="Dataset inputs: the --image-column the run used.", show_default=False)
]
KeyColumn = Annotated[
    Optional[str], typer.Option("--key-column", metavar="NAME", help="Dataset inputs: the --key-column the run used.", show_default=False)
]
ImageRoot = Annotated[
    Optional[Path], typer.Option("--image-root", metavar="DIR", help="Dataset inputs: the --image-root the run used.", show_default=False)
]


def column_choice(image_column: str | None, key_column: str | None, image_root: Path | None) -> "ColumnChoice":
    """The `ColumnChoice` those options name (imported here, not at `vlm --help`)."""
    from vlmcli.inputs.columns import ColumnChoice

    return ColumnChoice(image_column=image_column, key_column=key_column, image_root=image_root)
