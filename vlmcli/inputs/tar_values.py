"""A tar key's fields as the values --key-column and --keep-columns read, and the names no key
of a shard has.

A key's `.json` fields (img2dataset writes them) are its columns, as before; then every
other field by its name (`cls`, `txt`, `seg.txt`, `json` itself), decoded by its last
extension as webdataset's decoders decode it: `cls`, `cls2`, `index`, `inx`, `id` an int
(text where it is not a number), `json`/`jsn` parsed, `txt`, `text`, `transcript` text, any
other field text when it is UTF-8. Pictures, clips, PDFs and binary encodings (`npy`,
`pickle`, `pth`, `msgpack`, ...: never unpickled) are not kept (null). A `.json` field of the
same name wins over a member (`txt` in the json, then `k.txt`).

A tar is read as it streams, so a --keep-columns name is checked once the shard is read: a
name no key of the shard has (neither a field nor a `.json` field) is said in one warning,
with the fields it does have, where a Parquet file refuses it up front.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from vlmcli.inputs.tar_fields import PDF_FIELD, is_media, last_extension

INT_FIELDS = frozenset({"cls", "cls2", "index", "inx", "id"})
JSON_FIELDS = frozenset({"json", "jsn"})
TEXT_FIELDS = frozenset({"txt", "text", "transcript"})
BINARY_FIELDS = frozenset({"npy", "npz", "pkl", "pickle", "pyd", "pth", "ten", "tb", "mp", "msg", "msgpack", "cbor"})
FIELDS_NAMED = 12
"""Fields listed in the warning of a name no key has (the rest are counted)."""


def field_value(field: str, data: bytes) -> Any:
    """A member's bytes as the value of its field (see the module docstring); None: not kept."""
    ext = last_extension(field)
    if is_media(field) or ext == PDF_FIELD or ext in BINARY_FIELDS:
        return None
    if ext in INT_FIELDS:
        try:
            return int(data)
        except ValueError:
            pass
    if ext in JSON_FIELDS:
        try:
            return json.loads(data)
        except ValueError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace") if ext in TEXT_FIELDS else None


def key_meta(fields: Mapping[str, bytes], *, wanted: Collection[str]) -> dict[str, Any]:
    """The key's `.json` fields, and its `wanted` fields decoded (only those: a shard's other
    members are not decoded)."""
    meta: dict[str, Any] = {}
    if "json" in fields:
        try:
            loaded = json.loads(fields["json"])
            meta = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            meta = {}
    for name in wanted:
        if name not in meta and name in fields:
            meta[name] = field_value(name, fields[name])
    return meta


class KeptNames:
    """Which --keep-columns names the keys of one shard had, to say those none had."""

    def __init__(self, keep: Sequence[str]) -> None:
        self.keep = tuple(keep)
        self.found: set[str] = set()
        self.names: dict[str, None] = {}
        self.keys = 0

    def saw(self, meta: Mapping[str, Any], fields: Collection[str], *, keys: int = 1) -> None:
        """One key read: its columns (`meta`) and its fields; `keys`: the items it gives (a
        key of pictures only: each picture, keyed apart)."""
        if not self.keep:
            return
        self.keys += keys
        self.found.update(c for c in self.keep if c in meta or c in fields)
        if len(self.names) <= FIELDS_NAMED:
            self.names.update(dict.fromkeys([*fields, *(str(k) for k in meta if k != "__key__")]))

    def note(self, shard: str) -> str | None:
        """The warning of the names no key read had; None when every name was found (or no key was read)."""
        missing = [c for c in self.keep if c not in self.found]
        if not missing or not self.keys:
            return None
        names = sorted(self.names)
        listed = ", ".join(names[:FIELDS_NAMED]) + (", ..." if len(names) > FIELDS_NAMED else "") or "none"
        them = "it" if len(missing) == 1 else "them"
        keys = f"{self.keys} key{'s' if self.keys != 1 else ''}"
        return (
            f"{shard}: --keep-columns {', '.join(missing)}: no key of the shard has {them} "
            f"({keys} read; fields: {listed}); null in every row of the shard"
        )
