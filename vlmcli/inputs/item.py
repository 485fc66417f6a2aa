"""One item of a dataset shard, and the `path` its rows carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEPARATOR = "::"


def item_path(source: str, key: str) -> str:
    """The `path` of an item's rows: its shard's resolved path, "::", its key."""
    return f"{source}{SEPARATOR}{key}"


@dataclass
class ShardItem:
    key: str
    data: bytes | None = None
    """The image file's bytes; None when the item has no readable image (then `error` says why)."""
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """The kept columns (--keep-columns) of this item."""
    name: str | None = None
    """The file name its bytes had (a tar or zip member): its extension tells a video whose
    first bytes do not (MPEG-TS); None for table cells."""
    warnings: tuple[str, ...] = ()
    """How the shard stores the item, worth one warning line per run and no error (a tar
    member stored twice: its last copy is read)."""
    undownloaded: bool = False
    """img2dataset could not download its image (its `status` is not "success"): it can never
    be captioned, so runs write no row for it and count it apart; `error` says why."""
    left_out: int = 0
    """Pictures and clips of its WebDataset key left out beside it (a tar key holding a photo,
    its mask and a `.json` is one sample: the photo is captioned, the mask is not;
    `tar_fields`): summed into the run's summary (`left_out`), as the dry run counts them."""
