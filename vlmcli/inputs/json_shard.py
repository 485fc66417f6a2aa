"""A JSON or JSON Lines file of records naming pictures: LLaVA-style instruction data
(`[{"id": ..., "image": "coco/train2017/000000033471.jpg", "conversations": [...]}]`), chat
logs, `datasets`' `to_json` (one object per line).

`.jsonl`/`.ndjson` files are read a line at a time; a `.json` file is one array of objects
(read whole), COCO's annotation object (its `images`), or, as `to_json` writes it, JSON Lines. Records are rows: the image field
and key are picked by name as in a Parquet or CSV table (`columns.py`), from the fields of
the first records; a field may hold a path (relative to the file's folder, or to
`--image-root`), a data: URI or base64. Without a key field rows are keyed by their image
paths. A record without the image field but with a `video` one (LLaVA-OneVision's and
LLaVA-Video's mixes) gives its clip, captioned with --videos. A record with neither (a
text-only conversation in an instruction mix) is not a picture and is skipped; one whose image is null or unreadable is an error row, as is a
line that is not a JSON object. A file that is not JSON at all is not readable. Chat
records (OpenAI chat, fine-tuning and Batch API files, Qwen-style conversations) with no
image field give the pictures of their messages' content parts (`chat_messages.py`), keyed
`<key>#image<i>`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import chain, islice
from pathlib import Path
from typing import Any

from vlmcli.errors import ConfigError, InputError
from vlmcli.text_encoding import HEAD, text_encoding
from vlmcli.inputs.chat_messages import MESSAGE_IMAGES, message_images
from vlmcli.inputs.columns import (
    ColumnChoice,
    check_keep_columns,
    pick_image_column,
    pick_key_column,
    pick_video_column,
)
from vlmcli.inputs.item import ShardItem
from vlmcli.inputs.table_shard import rows_to_items

FIELDS_FROM = 100
"""Records whose fields are looked at to pick the image and key fields."""

Record = dict[str, Any] | str
"""A parsed object, or the error text of a line that is not one."""


def _encoding(path: Path) -> str:
    """The file's text encoding (`text_encoding`): UTF-8 as JSON should be, or UTF-16 or the
    Windows code page as PowerShell and older Windows tools write it."""
    with open(path, "rb") as handle:
        found = text_encoding(handle.read(HEAD))
    return "utf-8-sig" if found == "utf8" else found  # a UTF-8 mark, when there is one, is no text


def _lines(path: Path, encoding: str) -> Iterator[Record]:
    with open(path, encoding=encoding, errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                yield f"line {number} is not JSON ({exc.msg})"
                continue
            yield value if isinstance(value, dict) else f"line {number} is not a JSON object"


def records(path: Path) -> Iterator[Record]:
    """The file's records. A `.json` file is read whole: an array of records, or COCO's object
    (its `images` list: `file_name`, `id`); a `.json` that is not one JSON text, and every
    `.jsonl`/`.ndjson`, is JSON Lines."""
    encoding = _encoding(path)
    if path.suffix.lower() != ".json":
        yield from _lines(path, encoding)
        return
    try:
        with open(path, encoding=encoding) as handle:
            whole = json.load(handle)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":  # one text, broken: say so (JSON Lines fail with "Extra data")
            raise InputError(f"{path}: not a readable JSON file ({exc}).") from None
        yield from _lines(path, encoding)
        return
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a readable JSON file ({exc}).") from None
    if isinstance(whole, dict) and isinstance(whole.get("images"), list):
        whole = whole["images"]  # COCO: captions_train2017.json, instances_val2017.json, ...
    entries = whole if isinstance(whole, list) else [whole]
    for index, value in enumerate(entries):
        yield value if isinstance(value, dict) else f"entry {index} is not a JSON object"


def json_items(path: Path, choice: ColumnChoice) -> Iterator[ShardItem]:
    try:
        rest = records(path)
        head = list(islice(rest, FIELDS_FROM))
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc}).") from None
    names = list(dict.fromkeys(name for record in head if isinstance(record, dict) for name in record))
    where = str(path)
    if not names:
        raise InputError(f"{where}: no JSON objects in it (a list of records, or one object per line).")
    records_ = chain(head, rest)
    try:
        image = pick_image_column(names, declared=[], requested=choice.image_column, where=where)
    except ConfigError:
        if choice.image_column is not None or not any(isinstance(r, dict) and message_images(r) for r in head):
            raise
        image, records_ = MESSAGE_IMAGES, _with_message_images(records_)  # chat records: pictures in the messages
    video = pick_video_column(names, image=image, requested=choice.image_column)
    key = pick_key_column(names, requested=choice.key_column, where=where) or image
    check_keep_columns(names, choice.keep_columns, where=where)
    media = (image,) if video is None else (image, video)
    rows = ({"__problem__": r} if isinstance(r, str) else r for r in records_ if isinstance(r, str) or any(m in r for m in media))
    yield from rows_to_items(rows, path=path, image=image, key=key, choice=choice, video=video)


def _with_message_images(records_: Iterator[Record]) -> Iterator[Record]:
    """Each chat record with its messages' pictures as a field; one with none (a text-only
    conversation) goes without it, so it is skipped like a record without an image field."""
    for record in records_:
        if isinstance(record, dict) and (pictures := message_images(record)):
            record = {**record, MESSAGE_IMAGES: pictures}
        yield record
