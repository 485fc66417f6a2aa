"""`--json` output that is valid UTF-8 whatever the file names are.

A Linux file name is any bytes; Python holds the bytes that are not UTF-8 as lone
surrogates, which `json.dumps(..., ensure_ascii=False)` passes through and stdout then
writes back as the raw bytes: a line that is not valid UTF-8, so not valid JSON. In every
JSON object the commands print:

- each string is valid text: undecodable bytes become `\\xNN` escapes (`caf\\xe9.jpg`),
  readable and unambiguous enough for a human;
- a `path` or `source` field whose name was not valid UTF-8 gets a sibling `path_bytes`
  (`source_bytes`): the base64 of the original bytes, so a script can find the exact
  file again (`os.fsdecode(base64.b64decode(record["path_bytes"]))`). A list of names
  (`inputs`) gets `inputs_bytes`, one entry per name (null where the name was UTF-8).
  These fields are present only for such names.

Text output (not JSON) keeps writing the original bytes, like `ls`.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from vlmcli.media.names import has_surrogates, utf8_text

PATH_KEYS = ("path", "source")
"""Fields holding one file name."""
PATH_LIST_KEYS = ("inputs",)
"""Fields holding a list of file names."""


def original_bytes(name: str) -> str:
    """Base64 (ASCII) of the bytes the file system holds for `name`."""
    return base64.b64encode(os.fsencode(name)).decode("ascii")


def json_safe(value: Any) -> Any:
    """`value` (dicts, lists, scalars) with every string made valid and path fields recoverable."""
    if isinstance(value, str):
        return utf8_text(value)
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        out[key] = json_safe(item)
        if key in PATH_KEYS and isinstance(item, str) and has_surrogates(item):
            out[f"{key}_bytes"] = original_bytes(item)
        elif key in PATH_LIST_KEYS and isinstance(item, (list, tuple)):
            if any(isinstance(v, str) and has_surrogates(v) for v in item):
                out[f"{key}_bytes"] = [original_bytes(v) if has_surrogates(v) else None for v in item]
    return out


def json_line(record: dict[str, Any], **dumps_kwargs: Any) -> str:
    """One JSON text for `record`, valid UTF-8 whatever file names it holds (no newline added);
    ASCII with `\\u` escapes when stdout cannot encode every character (`stdout_is_utf8`)."""
    from vlmcli.commands._errors import stdout_is_utf8

    return json.dumps(json_safe(record), ensure_ascii=not stdout_is_utf8(), **dumps_kwargs)
