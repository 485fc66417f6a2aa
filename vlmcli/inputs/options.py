"""How a caption run reads dataset inputs (--input-format, --image-column, --key-column, --keep-columns)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.formats import InputFormat


@dataclass(frozen=True)
class DatasetInput:
    input_format: InputFormat = InputFormat.AUTO
    columns: ColumnChoice = field(default_factory=ColumnChoice)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_format", InputFormat(self.input_format))
