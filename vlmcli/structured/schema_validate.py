"""Does a parsed answer satisfy its schema? The check after generation behind `valid`.

The grammar shapes the answer token by token; this checks the finished value against the schema
as vlmcli reads it (the keywords `schema_support` accepts), so `valid: true` never rests on the
grammar alone. JSON Schema's meaning, with vlmcli's two stricter rules that the grammar also
follows: an object that lists `properties` or `patternProperties` allows no others unless
`additionalProperties` says so, and an array with `prefixItems` and no `items` holds no more.
Patterns are searched (JSON Schema) in `regex_dialect`'s reading; formats are `formats.matches`.
Some keywords are checked here only, not by the grammar (`schema_support.check_schema` lists them):
lengths beside a pattern or format, `uniqueItems` (JSON equality: 1 and 1.0 are the same item), and
`multipleOf` (exactly, in fractions of the numbers as written: 0.3 is a multiple of 0.1).

`strict_loads` is the JSON parse for answers: a duplicate key, NaN, Infinity or a number too large
for a float is not valid JSON here (Python's `json.loads` takes them all). Pure: no grammar engine.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from typing import Any

from vlmcli.structured import formats
from vlmcli.structured.regex_dialect import python_regex


def strict_loads(text: str) -> Any:
    """`json.loads`, refusing duplicate keys, NaN/Infinity and floats that overflow (ValueError)."""
    return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant, parse_float=_finite)


def violation(value: Any, schema: Any, root: Any = None, where: str = "answer") -> str | None:
    """Why `value` does not satisfy `schema` (one short reason), or None when it does.
    `root`: the whole schema, where `$ref`s point (default `schema`)."""
    root = schema if root is None else root
    if schema is True or schema == {}:
        return None
    if schema is False:
        return f"{where} is not allowed"
    if "$ref" in schema:
        return violation(value, resolve_ref(root, schema["$ref"]), root, where)
    if "const" in schema and not json_equal(value, schema["const"]):
        return f"{where} is not {json.dumps(schema['const'])}"
    if "enum" in schema and not any(json_equal(value, v) for v in schema["enum"]):
        return f"{where} is not one of the enum values"
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            passed = sum(violation(value, sub, root, where) is None for sub in schema[key])
            wanted = {"anyOf": passed >= 1, "oneOf": passed == 1, "allOf": passed == len(schema[key])}[key]
            if not wanted:
                return f"{where} matches {passed} of the {key} schemas"
    kinds = schema.get("type")
    if kinds is not None and not any(has_type(value, k) for k in (kinds if isinstance(kinds, list) else [kinds])):
        return f"{where} is not of type {kinds}"
    for applies, check in _CHECKS:
        if applies(value):
            reason = check(value, schema, root, where)
            if reason:
                return reason
    return None


def resolve_ref(root: Any, ref: str) -> Any:
    """The schema a local `$ref` (`#` or a JSON pointer `#/...`) points to; KeyError when it does not."""
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        raise KeyError(ref)
    node = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(ref)
    return node


def has_type(value: Any, kind: str) -> bool:
    """JSON Schema's types: 1.0 is an integer, true is not a number."""
    if kind == "integer":
        return _is_number(value) and float(value).is_integer()
    return {
        "null": value is None, "boolean": isinstance(value, bool), "number": _is_number(value),
        "string": isinstance(value, str), "array": isinstance(value, list), "object": isinstance(value, dict),
    }.get(kind, False)


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: 1 == 1.0, but true != 1; objects and arrays compared deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: Any, schema: dict, root: Any, where: str) -> str | None:
    for key, fails in (
        ("minimum", lambda v, b: v < b), ("maximum", lambda v, b: v > b),
        ("exclusiveMinimum", lambda v, b: v <= b), ("exclusiveMaximum", lambda v, b: v >= b),
    ):
        if key in schema and fails(value, schema[key]):
            return f"{where} = {value} breaks {key} {schema[key]}"
    step = schema.get("multipleOf")
    if step is not None and not _multiple(value, step):
        return f"{where} = {value} is not a multiple of {step}"
    return None


def _multiple(value: int | float, step: int | float) -> bool:
    """`value` is a whole number of `step`s, exactly (floats as their shortest decimal text)."""
    return Fraction(repr(value)) % Fraction(repr(step)) == 0


def _string(value: str, schema: dict, root: Any, where: str) -> str | None:
    if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", math.inf):
        return f"{where} has {len(value)} characters, outside minLength/maxLength"
    if "pattern" in schema and python_regex(schema["pattern"]).search(value) is None:
        return f"{where} does not match the pattern '{schema['pattern']}'"
    if "format" in schema and not formats.matches(schema["format"], value):
        return f"{where} is not a {schema['format']}"
    return None


def _array(value: list, schema: dict, root: Any, where: str) -> str | None:
    if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", math.inf):
        return f"{where} has {len(value)} items, outside minItems/maxItems"
    if schema.get("uniqueItems"):
        for index, item in enumerate(value):
            if any(json_equal(item, other) for other in value[:index]):
                return f"{where}[{index}] repeats an earlier item (uniqueItems)"
    prefix = schema.get("prefixItems", [])
    rest = schema.get("items", False if "prefixItems" in schema else True)
    for index, item in enumerate(value):
        reason = violation(item, prefix[index] if index < len(prefix) else rest, root, f"{where}[{index}]")
        if reason:
            return reason
    return None


def _object(value: dict, schema: dict, root: Any, where: str) -> str | None:
    if not schema.get("minProperties", 0) <= len(value) <= schema.get("maxProperties", math.inf):
        return f"{where} has {len(value)} properties, outside minProperties/maxProperties"
    missing = [name for name in schema.get("required", []) if name not in value]
    if missing:
        return f"{where} lacks the required {missing[0]!r}"
    properties, patterns = schema.get("properties", {}), schema.get("patternProperties", {})
    others = schema.get("additionalProperties", not (properties or patterns))
    for name, item in value.items():
        inner = f"{where}.{name}"
        if "propertyNames" in schema and violation(name, schema["propertyNames"], root, inner) is not None:
            return f"the name {name!r} in {where} breaks propertyNames"
        matched = [sub for pattern, sub in patterns.items() if python_regex(pattern).search(name)]
        subs = ([properties[name]] if name in properties else []) + matched or [others]
        for sub in subs:
            reason = violation(item, sub, root, inner)
            if reason:
                return reason
    return None


_CHECKS = (
    (_is_number, _number),
    (lambda v: isinstance(v, str), _string),
    (lambda v: isinstance(v, list), _array),
    (lambda v: isinstance(v, dict), _object),
)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = item
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} does not fit a float")
    return number
