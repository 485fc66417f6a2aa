"""A kept column's one type in a table (Parquet, imagefolder's `metadata.jsonl`), found from its values.

`caption-dir --keep-columns` stores each item's kept values as JSON (`sinks.schema`'s `extra`):
a Parquet list<string> of tags is a JSON list, a struct a JSON object, an int64 a number.
Tables hold one type per column, so export finds the one type every row's value fits, as
`datasets` would from the same JSON, and writes the values typed: lists as lists, objects as
structs (the keys any row has, null where a row lacks one), numbers, booleans and text as
themselves. Integers and numbers mixed are numbers (`1` and `2.5` -> float64, `1` written
`1.0`); an empty list or a null tells nothing (its type comes from the other rows; a column
with nothing else is text); integers of 2**63 up to 2**64 are uint64.

A column whose values have no one type (an integer in one row and text in another, a list and
an object, a boolean and a number, an integer past 64 bits, objects that are all empty, an object
field named `_type`, which `datasets` reads as a feature's own) holds
each value as its JSON text (a text value too: `"x"` with its quotes, so `json.loads` reads
every cell of the column back), and `TableColumn.mixed` says why, for the summary. So does a
column `datasets`' imagefolder loader would misread: an object with a `file_name` field (or
`*_file_name`, `file_names`, ...), which it opens as an image file, when `opens_file_fields`.

    columns = table_columns(extras, {"tags": "tags", "n": "n"}, opens_file_fields=False)
    columns["tags"].arrow_type()         # list<item: string>
    columns["tags"].feature()            # [{"dtype": "string", "_type": "Value"}]: `datasets`' feature
    table_fields(extra, kept, columns)   # {"tags": ["a", "b"], "n": 1.0}

A JSON reader (`datasets`' imagefolder reads `metadata.jsonl` 10 MiB at a time, typing each
column from the first) needs a value in its first rows wherever a type is: `typing_paths` are
those places, `typed_paths` the ones one record's values give. Pure but for `arrow_type`
(pyarrow imported there).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

NULL, BOOL, UINT, INT64, UINT64, FLOAT64, STRING, LIST, STRUCT = (
    "null", "bool", "uint", "int64", "uint64", "float64", "string", "list", "struct"
)  # fmt: skip
"""Kinds of value. UINT: an integer 0 <= n < 2**63, that fits int64 and uint64 alike."""

_WORDS = {BOOL: "boolean", UINT: "integer", INT64: "integer", UINT64: "integer", FLOAT64: "number",
          STRING: "text", LIST: "list", STRUCT: "object"}  # fmt: skip
_NUMBERS = frozenset({UINT, INT64, UINT64, FLOAT64})
_DATASETS_KEY = "_type"
"""A `datasets` feature's own key: an object field so named would read as a feature type."""


@dataclass(frozen=True)
class Kind:
    """The type of a value, or the one type of several (`unify`)."""

    name: str
    item: Kind | None = None
    """LIST: its items' kind."""
    fields: tuple[tuple[str, Kind], ...] = ()
    """STRUCT: (key, kind) in the order the keys first appear."""


class Mixed(Exception):
    """Values with no one type: the message says which, e.g. `integer and text (at .x)`."""


def kind_of(value: Any) -> Kind:
    if value is None:
        return Kind(NULL)
    if isinstance(value, bool):
        return Kind(BOOL)
    if isinstance(value, int):
        if 0 <= value < 2**63:
            return Kind(UINT)
        if -(2**63) <= value < 0:
            return Kind(INT64)
        if 2**63 <= value < 2**64:
            return Kind(UINT64)
        raise Mixed("an integer beyond 64 bits")
    if isinstance(value, float):
        return Kind(FLOAT64)
    if isinstance(value, str):
        return Kind(STRING)
    if isinstance(value, (list, tuple)):
        item = Kind(NULL)
        for element in value:
            item = unify(item, kind_of(element), where="[]")
        return Kind(LIST, item=item)
    if isinstance(value, Mapping):
        return Kind(STRUCT, fields=tuple((str(key), kind_of(element)) for key, element in value.items()))
    return Kind(STRING)  # the run keeps JSON values only; anything else as its text


def unify(a: Kind, b: Kind, *, where: str = "") -> Kind:
    """The one kind values of kinds `a` and `b` fit; `Mixed` when there is none."""
    if a.name == NULL or a == b:
        return b
    if b.name == NULL:
        return a
    if a.name in _NUMBERS and b.name in _NUMBERS:
        names = {a.name, b.name}
        if FLOAT64 in names:
            return Kind(FLOAT64)
        if names == {INT64, UINT64}:
            raise Mixed(f"negative integers and integers of 2**63 or more{_at(where)}")
        return Kind(INT64 if INT64 in names else UINT64)
    if a.name == b.name == LIST:
        return Kind(LIST, item=unify(a.item or Kind(NULL), b.item or Kind(NULL), where=f"{where}[]"))
    if a.name == b.name == STRUCT:
        fields = dict(a.fields)
        for key, kind in b.fields:
            fields[key] = unify(fields[key], kind, where=f"{where}.{key}") if key in fields else kind
        return Kind(STRUCT, fields=tuple(fields.items()))
    first, second = sorted((_WORDS[a.name], _WORDS[b.name]))
    raise Mixed(f"{first} and {second} values{_at(where)}")


def _at(where: str) -> str:
    return f" (at {where.lstrip('.')})" if where else ""


@dataclass(frozen=True)
class TableColumn:
    kind: Kind
    """The one kind of the column's values (NULL where every value is null)."""
    mixed: str | None = None
    """Why the values are held as their JSON text (no one type: `Mixed`); None when typed."""
    recorded: Any = None
    """The type its input shards had (`kept_arrow.Recorded`), which the column is given instead
    of one found from its values; None: found from its values."""

    def arrow_type(self) -> "pa.DataType":
        import pyarrow as pa

        if self.recorded is not None:
            return self.recorded.type
        return pa.string() if self.mixed is not None else _arrow(self.kind, top=True, pa=pa)

    def feature(self) -> Any:
        """The column's `datasets` feature as `Features.to_dict` writes it: `Value` for a
        scalar, `[feature]` for a list, `{key: feature}` for an object (read alike by
        `datasets` 2.x to 5.x). A recorded type's: its input's feature, or None (`datasets` reads it
        from the Arrow type)."""
        if self.recorded is not None:
            return self.recorded.feature
        return {"dtype": "string", "_type": "Value"} if self.mixed is not None else _feature(self.kind, top=True)

    def cell(self, value: Any) -> Any:
        """`value` as the column holds it: of the column's type (a number as float where the
        column is float64, an object with every field), or its JSON text where `mixed`."""
        import json

        if value is None:
            return None
        if self.recorded is not None:
            from vlmcli.exports.kept_arrow import python_value

            return python_value(value, self.recorded.type)  # of `storage_type`: Arrow casts the rest
        if self.mixed is not None:
            return json.dumps(value, ensure_ascii=False)  # text too: every cell of the column is JSON
        return _conform(value, self.kind)


def table_columns(
    extras: Iterable[Mapping[str, Any]], kept: Mapping[str, str], *, opens_file_fields: bool,
    recorded: Mapping[str, Any] | None = None,
) -> dict[str, TableColumn]:
    """export name -> its column, from every record's kept values (see the module docstring).
    `opens_file_fields`: the table is imagefolder's metadata, whose loader opens an object's
    `file_name`-like fields as image files (such a column is held as JSON text). `recorded`:
    export name -> the type its input had (`kept_arrow.recorded_columns`), given to that column."""
    recorded = recorded or {}
    kinds: dict[str, Kind] = {name: Kind(NULL) for name in kept.values()}
    mixed: dict[str, str] = {}
    for extra in extras:
        for column, name in kept.items():
            value = extra.get(column)
            if value is None or name in mixed:
                continue
            try:
                kinds[name] = unify(kinds[name], kind_of(value))
            except Mixed as why:
                mixed[name] = str(why)
    for name, kind in kinds.items():
        if name not in mixed:
            problem = _untypable(kind, opens_file_fields=opens_file_fields)
            if problem is not None:
                mixed[name] = problem
    return {
        name: TableColumn(kind=kind, recorded=recorded[name]) if name in recorded else TableColumn(kind=kind, mixed=mixed.get(name))
        for name, kind in kinds.items()
    }


def table_fields(
    extra: Mapping[str, Any], kept: Mapping[str, str], columns: Mapping[str, TableColumn]
) -> dict[str, Any]:
    """One record's kept values as a table row holds them (`TableColumn.cell`), under their export names."""
    return {name: columns[name].cell(extra.get(column)) for column, name in kept.items()}


def typing_paths(columns: Mapping[str, TableColumn]) -> set[str]:
    """Every place in the columns a value gives a type to (`tags[]`, `bbox.x`; a column of JSON
    text: its name): a JSON reader types a column from the first rows with a value there."""
    return {path for name, column in columns.items() for path in _leaves(column, name)}


def typed_paths(extra: Mapping[str, Any], kept: Mapping[str, str], columns: Mapping[str, TableColumn]) -> set[str]:
    """The `typing_paths` one record's kept values give a type to (a value, not null or `[]`, there)."""
    found: set[str] = set()
    for column, name in kept.items():
        value, table = extra.get(column), columns[name]
        if value is not None:
            found |= {name} if table.mixed is not None else _typed(value, table.kind, name)
    return found


def _leaves(column: TableColumn, name: str) -> set[str]:
    if column.mixed is not None:
        return {name}

    def leaves(kind: Kind, where: str) -> set[str]:
        if kind.name == NULL:
            return set()
        if kind.name == LIST:
            return leaves(kind.item or Kind(NULL), f"{where}[]") or {where}
        if kind.name == STRUCT:
            return set().union(*(leaves(field, f"{where}.{key}") for key, field in kind.fields)) or {where}
        return {where}

    return leaves(column.kind, name)


def _typed(value: Any, kind: Kind, where: str) -> set[str]:
    if value is None:
        return set()
    found = {where}
    if kind.name == LIST:
        for element in value:
            found |= _typed(element, kind.item or Kind(NULL), f"{where}[]")
    elif kind.name == STRUCT:
        for key, field in kind.fields:
            found |= _typed(value.get(key), field, f"{where}.{key}")
    return found


def _untypable(kind: Kind, *, opens_file_fields: bool, where: str = "") -> str | None:
    """Why a column of `kind` cannot be a typed column; None when it can."""
    if kind.name == LIST:
        return _untypable(kind.item or Kind(NULL), opens_file_fields=opens_file_fields, where=f"{where}[]")
    if kind.name != STRUCT:
        return None
    if not kind.fields:
        return f"objects with no fields{_at(where)}"  # Parquet holds no struct without fields
    for key, field in kind.fields:
        if key == _DATASETS_KEY:
            return f"an object field named {_DATASETS_KEY!r}{_at(where)}"
        if opens_file_fields and _a_file_field(key):
            return f"an object field {key!r}{_at(where)}, which datasets' imagefolder would open as an image file"
        problem = _untypable(field, opens_file_fields=opens_file_fields, where=f"{where}.{key}")
        if problem is not None:
            return problem
    return None


def _a_file_field(key: str) -> bool:
    return key.endswith(("file_name", "file_names"))


def _arrow(kind: Kind, *, top: bool, pa: Any) -> "pa.DataType":
    if kind.name == LIST:
        return pa.list_(_arrow(kind.item or Kind(NULL), top=False, pa=pa))
    if kind.name == STRUCT:
        return pa.struct([pa.field(key, _arrow(field, top=False, pa=pa)) for key, field in kind.fields])
    if kind.name == NULL:
        return pa.string() if top else pa.null()  # a column of nulls only: text, as it always was
    return pa.int64() if kind.name == UINT else pa.type_for_alias(kind.name)


def _feature(kind: Kind, *, top: bool) -> Any:
    if kind.name == LIST:
        return [_feature(kind.item or Kind(NULL), top=False)]
    if kind.name == STRUCT:
        return {key: _feature(field, top=False) for key, field in kind.fields}
    dtype = "string" if kind.name == NULL and top else INT64 if kind.name == UINT else kind.name
    return {"dtype": dtype, "_type": "Value"}


def _conform(value: Any, kind: Kind) -> Any:
    """`value` (of a kind that `kind` unifies) as a value of `kind`."""
    if value is None:
        return None
    if kind.name == FLOAT64:
        return float(value)
    if kind.name == LIST:
        return [_conform(element, kind.item or Kind(NULL)) for element in value]
    if kind.name == STRUCT:
        return {key: _conform(value.get(key), field) for key, field in kind.fields}
    return value
