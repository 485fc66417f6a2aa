"""`<shard>::<key>`: one item of a dataset shard, named as caption-dir's rows name it.

A row's `path` (in the output, an error line, the report) is its shard's path, "::", its
key. Copied into `vlm ask` or `vlm describe` to look at one item again, it was "No such
file". Now the shard is read (front to back, as far as that key) and the item's bytes
are the input (a clip's bytes go to a temporary file while the command reads it: video
decoders read files; messages still name the address):

    vlm ask 'laion/00042.tar::000420031' "What is written on the sign?"
    vlm video-summarize 'webvid/00007.tar::000070012'

A path that exists as a file is always that file, even with "::" in its name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vlmcli.errors import InputError
from vlmcli.inputs.clip_files import temporary_copy
from vlmcli.inputs.item import SEPARATOR, ShardItem


def split_address(source: str) -> tuple[Path, str] | None:
    """(shard, key) when `source` is `<existing dataset shard>::<key>`; else None."""
    if SEPARATOR not in source or Path(source).exists():
        return None
    from vlmcli.inputs.formats import InputFormat, detect_format

    start = 0
    while (at := source.find(SEPARATOR, start)) > 0:
        shard, key = Path(source[:at]).expanduser(), source[at + len(SEPARATOR) :]
        if key and shard.exists() and detect_format(shard) not in (InputFormat.FILES, InputFormat.AUTO):
            return shard, key
        start = at + 1
    return None


def read_item(source: str, *, page_pixels: int | None = None) -> ShardItem | None:
    """The item `source` names (its bytes in `data`), or None when `source` is no item address.
    An InputError when the shard has no such key, or the item has no readable picture.
    `page_pixels`: the largest a PDF page is rendered (None: the built-in limit, 0: none)."""
    address = split_address(source)
    if address is None:
        return None
    from vlmcli.inputs.formats import InputFormat, detect_format
    from vlmcli.inputs.pdf_shard import pdf_item
    from vlmcli.inputs.readings import ShardReadings
    from vlmcli.inputs.zip_shard import zip_item

    shard, key = address
    fmt = detect_format(shard)
    item: ShardItem | None
    if fmt is InputFormat.PDF:  # one page, rendered alone
        item = pdf_item(shard, key, max_pixels=page_pixels)
    elif fmt is InputFormat.ZIP:  # one member read (a PDF member: one page rendered)
        item = zip_item(shard, key, page_pixels=page_pixels)
    else:
        item = next((found for found in ShardReadings().items(str(shard)) if found.key == key), None)
    if item is None:
        raise InputError(f"{source}: {shard} has no item with the key {key!r}.")
    if item.data is None:
        raise InputError(item.error or f"{source}: the item has no picture.")
    return item


@contextmanager
def local_file(source: str) -> Iterator[str]:
    """The file to read `source` from: itself, or an item address's bytes in a temporary file."""
    item = read_item(source)
    if item is None:
        yield source
        return
    with temporary_copy(item.data or b"", source) as path:
        yield path
