"""--key-column on a WebDataset tar: the field that names each key's item, and what is said
when a key lacks it.

A table names its columns up front, and a --key-column it lacks is refused before a row is
read ("--key-column 'id' is not a column of a.parquet (columns: ...)"); a row whose key cell
is empty is keyed by its number. A tar's fields are known key by key, as it streams, so:

    first key   has no such field (neither a member `k.id` nor a field of its `.json`): the
                shard is refused as a table is (a ConfigError naming the key and the fields it
                has), before any of its items is read: a misspelled name, or a shard written
                without that field, whose every row would otherwise be keyed by `__key__`
                without a word (and rekeyed, its captions redone, once the name is fixed);
    later keys  without it, or with an empty value (null, ""): keyed by their WebDataset key
                (`__key__`), as a table's empty key cell falls back to its row number, and
                counted: one warning after the shard says how many and names the first.

Before, a --key-column no key had keyed every item by `__key__`, exit 0, without a word.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from vlmcli.errors import ConfigError
from vlmcli.inputs.columns import key_text

FIELDS_NAMED = 12
"""Fields named in the refusal (the rest are counted)."""


def _listed(fields: Collection[str], meta: Mapping[str, Any]) -> str:
    names = sorted(dict.fromkeys([*fields, *(str(k) for k in meta if k != "__key__")]))
    more = f", ... {len(names) - FIELDS_NAMED} more" if len(names) > FIELDS_NAMED else ""
    return ", ".join(names[:FIELDS_NAMED]) + more or "none"


class KeyColumn:
    """The --key-column of one shard's reading (`name` None: keys are WebDataset's `__key__`)."""

    def __init__(self, path: Path, name: str | None) -> None:
        self.path = path
        self.name = None if name in (None, "", "__key__") else name
        self.keys = 0
        self.unnamed = 0
        self.first: tuple[str, str] | None = None
        """(key, its fields) of the first key keyed by `__key__` for want of the field."""

    def key_of(self, key: str, meta: Mapping[str, Any], fields: Collection[str]) -> str:
        """The item key of the WebDataset key `key`, whose columns are `meta` (its `.json`'s
        fields and its decoded members) and member fields `fields`."""
        if self.name is None:
            return key
        self.keys += 1
        if self.keys == 1 and self.name not in meta:
            raise ConfigError(
                f"--key-column {self.name!r} is not a field of {self.path}: its first key {key} has none "
                f"(fields: {_listed(fields, meta)}); name a field its keys have (a member such as {key}.id, "
                "or a field of its .json), or leave --key-column out to key items by __key__."
            )
        named = key_text(meta.get(self.name))
        if named is None:
            self.unnamed += 1
            if self.first is None:
                self.first = (key, _listed(fields, meta))
            return key
        return named

    def note(self) -> str | None:
        """The warning of the keys keyed by `__key__` for want of the field; None when none was."""
        if not self.unnamed or self.first is None:
            return None
        key, fields = self.first
        have = "have" if self.unnamed != 1 else "has"
        keys = f"{self.unnamed} of {self.keys} key{'s' if self.keys != 1 else ''} {have}"
        return (
            f"{self.path}: --key-column {self.name}: {keys} no {self.name} field (or an empty one) and "
            f"{'are' if self.unnamed != 1 else 'is'} keyed by the WebDataset key (__key__) instead "
            f"(key {key}: fields {fields})"
        )
