"""A PDF document as a dataset shard for `caption-dir`: each page is one item, captioned as a
picture (`vlm caption-dir scans.pdf -o captions/`, or a folder holding only PDFs).

Pages are rendered as `vlm ask` renders them (`media.pdf_pages`: PDFium at 150 dpi on
white), every page (`--pages` is for ask/describe), and handed on as PNG bytes, so a page
is hashed, probed, resumed and exported like any dataset picture. An item's key is its page
number, zero-padded so keys sort in page order (`scans.pdf::page-0003`). An encrypted or
damaged document is a shard that cannot be read (one line); a page that will not render is
that item's error. A page has no columns: `--key-column`/`--keep-columns` do not apply.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from vlmcli.errors import InputError
from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.item import ShardItem, item_path

if TYPE_CHECKING:
    from vlmcli.media.pdf_pages import OpenPdf

KEY_DIGITS = 4


def page_key(number: int, count: int) -> str:
    """`page-0003`: zero-padded to at least `KEY_DIGITS`, more for a longer document."""
    return f"page-{number:0{max(KEY_DIGITS, len(str(count)))}d}"


def pdf_items(path: Path, choice: ColumnChoice) -> Iterator[ShardItem]:
    """Every page; a page has no columns (`expand.check_columns_apply`)."""
    yield from page_items(path.read_bytes(), str(path), max_pixels=choice.page_pixels)


def page_items(
    data: bytes, name: str, *, prefix: str = "", folder: str = "", max_pixels: int | None = None
) -> Iterator[ShardItem]:
    """Every page of the PDF `data` as an item keyed `<prefix>page-0003`, its picture named
    `<folder>page-0003.png`; `name` names the document in messages. A document that will not
    open (encrypted, damaged) raises `InputError` before the first item."""
    from vlmcli.media.pdf_pages import opened

    with opened(data, name) as pdf:  # parsed once, pages rendered one at a time
        for index in range(pdf.count):
            yield _page_item(pdf, name, index, max_pixels, prefix=prefix, folder=folder)


def pdf_item(path: Path, key: str, *, max_pixels: int | None = None) -> ShardItem:
    """The item of one page, rendered alone (an address `scan.pdf::page-0200` does not render
    the 199 pages before it); the key may be written unpadded (`page-2`, `2`)."""
    return page_item(path.read_bytes(), str(path), key, max_pixels=max_pixels)


def page_item(
    data: bytes, name: str, key: str, *, prefix: str = "", folder: str = "", max_pixels: int | None = None
) -> ShardItem:
    """The item of the page `key` names (`page_items`' key less its `prefix`) of the PDF `data`."""
    from vlmcli.media.pdf_pages import opened

    match = re.fullmatch(r"(?:page-)?0*([1-9][0-9]*)", key)
    with opened(data, name) as pdf:
        if match is None or int(match[1]) > pdf.count:
            last = page_key(pdf.count, pdf.count)
            pages = f"its pages are {page_key(1, pdf.count)} to {last}"
            raise InputError(f"{item_path(name, key)}: {name} has no page {key!r} ({pages}).")
        return _page_item(pdf, name, int(match[1]) - 1, max_pixels, prefix=prefix, folder=folder)


def _page_item(pdf: "OpenPdf", name: str, index: int, max_pixels: int | None, *, prefix: str, folder: str) -> ShardItem:
    """Page `index` as an item: PNG bytes (its key: `prefix` + `page_key`), or its error;
    rendered within `max_pixels` (None: the built-in limit, 0: none)."""
    from vlmcli.media.images import DEFAULT_MAX_PIXELS

    page = page_key(index + 1, pdf.count)
    key = prefix + page
    try:
        picture = pdf.render(index, max_pixels=DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels)
    except InputError as exc:
        return ShardItem(key=key, error=f"{item_path(name, page)}: {exc}")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)
    return ShardItem(key=key, data=buffer.getvalue(), name=f"{folder}{page}.png")
