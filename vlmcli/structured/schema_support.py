"""Which JSON Schemas vlmcli takes: what the grammar enforces, and nothing it would drop silently.

xgrammar 0.2.9 compiles many schemas it only partly enforces: it ignores `allOf` beyond one
schema, `not`, `if`/`then`/`else`, `uniqueItems`, `contains`, `dependentRequired`, an external
`$ref`, the lengths beside a `pattern` or `format`, `multipleOf` on a number (and beside integer
bounds, but for some small ranges), unknown formats, keywords beside `$ref`/`anyOf`, a `minimum`
without a `type`..., and reads an overlapping `oneOf` as `anyOf`. An answer could then break the
schema it was promised to satisfy. `check_schema` therefore refuses up front (ConfigError, exit 2,
naming the keyword and where it is, as `properties.v.allOf`) every keyword that changes the
structure the grammar builds, and accepts the rest:

- `type` (a name or a list), `enum`, `const`; annotations (`title`, `description`, `default`, ...);
- `$ref` to `#` or `#/...` inside the schema, `$defs`/`definitions`, `anyOf`, `allOf` of one schema,
  and `oneOf` whose schemas cannot overlap (by type, by const/enum values, or by a required
  property with const/enum values, as xgrammar proves it); each alone, beside annotations only;
- integers: `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum` (a fraction rounds inward),
  `multipleOf` (a whole number up to 1024, without bounds); numbers: the four bounds;
- strings: `minLength`/`maxLength`, or a `pattern` (`regex_dialect`), or a `format` (`formats.FORMATS`,
  `formats.AS_PATTERN`, `formats.ANY_STRING`);
- arrays: `items`, `prefixItems`, `minItems`, `maxItems`;
- objects: `properties`, `required` (each among the properties), `additionalProperties`,
  `patternProperties`, `propertyNames`, `minProperties`, `maxProperties`.

Checked only after generation (the grammar enforces the rest of their schema; `check_schema`
returns them as "keyword at location", which the commands print in one `warning:` line at setup;
an answer that breaks one is `valid: false`), the keywords common pydantic fields write:
- `minLength`/`maxLength` beside a `pattern` or a `format` (`HttpUrl`, `Field(pattern=..., max_length=...)`);
- `uniqueItems: true` (`set[str]`, `frozenset`);
- `multipleOf` beside integer bounds, on a number, or past 1024 or fractional (`Field(multiple_of=5, ge=0)`).
None of them changes the structure the grammar builds, only which values of it are right.

Type keywords need a `type` to apply to (or `properties`/`items`, which make one): without it the
grammar allows any value. `enum`/`const` beside other keywords: each value must satisfy them (so
nothing beside them is left to the check after generation).
After generation, `schema_validate` checks the answer against the same reading. Pure.
"""

from __future__ import annotations

import json
import math
from typing import Any

from vlmcli.errors import ConfigError
from vlmcli.structured.formats import ANY_STRING, AS_PATTERN, FORMATS
from vlmcli.structured.regex_dialect import check_python_syntax, translate
from vlmcli.structured.schema_validate import has_type, json_equal, resolve_ref, violation

SCHEMA_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "$comment", "$schema", "$id", "deprecated", "readOnly", "writeOnly",
     "discriminator"}  # pydantic's OpenAPI discriminator: the branches' const values enforce it
)
DEFINITIONS = ("$defs", "definitions")
COMBINATORS = ("$ref", "anyOf", "oneOf", "allOf")
BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
TYPE_KEYWORDS = {
    "integer": (*BOUNDS, "multipleOf"),
    "number": (*BOUNDS, "multipleOf"),
    "string": ("minLength", "maxLength", "pattern", "format"),
    "array": ("items", "prefixItems", "minItems", "maxItems", "uniqueItems"),
    "object": ("properties", "required", "additionalProperties", "patternProperties", "propertyNames",
               "minProperties", "maxProperties"),
}
KNOWN = ANNOTATIONS | {"type", "enum", "const", *DEFINITIONS, *COMBINATORS}
KNOWN |= {key for keys in TYPE_KEYWORDS.values() for key in keys}
MULTIPLE_OF_MAX = 1024
"""xgrammar enforces an integer multipleOf up to this, and only without bounds."""


def check_schema(schema: Any) -> tuple[str, ...]:
    """ConfigError, one line, for a schema vlmcli cannot enforce (see the module docstring); else the
    keywords checked only after generation, each as "keyword at location" (`properties.url`)."""
    checker = _Checker(schema)
    checker.node(schema, "")
    return tuple(dict.fromkeys(checker.after))


def grammar_multiple_of(schema: dict[str, Any]) -> bool:
    """Whether xgrammar enforces this schema's `multipleOf`: a whole step up to 1024 on an integer
    (not a number), without bounds (beside bounds it enforces it only for some small ranges)."""
    step = schema.get("multipleOf")
    kinds = schema.get("type") if isinstance(schema.get("type"), list) else [schema.get("type")]
    return (
        isinstance(step, (int, float)) and not isinstance(step, bool) and "integer" in kinds and "number" not in kinds
        and _whole(step) and 1 <= step <= MULTIPLE_OF_MAX and not any(key in schema for key in BOUNDS)
    )


def at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _refuse(message: str) -> ConfigError:
    return ConfigError(f"--schema: {message}")


def _unsupported(where: str, why: str) -> ConfigError:
    return _refuse(f"{where} is not supported: {why}.")


class _Checker:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.after: list[str] = []
        """Keywords checked only after generation, as "keyword at location"."""

    def _after(self, where: str, key: str) -> None:
        self.after.append(f"{key} at {where or 'the top level'}")

    def node(self, schema: Any, where: str, implied: str | None = None) -> None:
        if isinstance(schema, bool):
            return
        if not isinstance(schema, dict):
            raise _refuse(f"{where or 'the schema'} must be a JSON object, not {type(schema).__name__}.")
        unknown = [key for key in schema if key not in KNOWN]
        if unknown:
            raise _unsupported(at(where, unknown[0]), "the grammar cannot enforce it, so an answer could break it")
        for key in DEFINITIONS:
            if key in schema:
                if not isinstance(schema[key], dict):
                    raise _refuse(f"{at(where, key)} must be an object.")
                for name, sub in schema[key].items():
                    self.node(sub, at(at(where, key), name))
        combinator = next((key for key in COMBINATORS if key in schema), None)
        if combinator is not None:
            self._combinator(schema, where, combinator)
            return
        types = self._types(schema, where, implied)
        finite = "const" in schema or "enum" in schema
        after = len(self.after)
        for kind, keys in TYPE_KEYWORDS.items():
            present = [key for key in keys if key in schema]
            if present and not types and not finite:
                raise _unsupported(at(where, present[0]), 'without a "type" beside it the grammar allows any value there')
            if present and kind in types:
                getattr(self, f"_{kind}")(schema, where, types)
        if finite:
            self._finite(schema, where)
            del self.after[after:]  # the grammar lists the values, each checked against the keywords

    def _types(self, schema: dict, where: str, implied: str | None) -> set[str]:
        kind = schema.get("type")
        if kind is None:
            if implied:
                return {implied}
            inferred = ("object", "properties", "additionalProperties"), ("array", "items", "prefixItems")
            return {name for name, *keys in inferred if any(k in schema for k in keys)}
        kinds = kind if isinstance(kind, list) else [kind]
        if not kinds or not all(isinstance(k, str) for k in kinds):
            raise _refuse(f"{at(where, 'type')} must be a type name or a non-empty list of them.")
        unknown = [k for k in kinds if k not in SCHEMA_TYPES]
        if unknown:
            raise _refuse(
                f"{where or 'the schema'} has unknown type {unknown[0]!r}; expected one of {sorted(SCHEMA_TYPES)}."
            )
        return set(kinds)

    def _combinator(self, schema: dict, where: str, key: str) -> None:
        beside = [k for k in schema if k != key and k not in ANNOTATIONS and k not in DEFINITIONS]
        if beside:
            raise _unsupported(
                f"{at(where, key)} beside {beside[0]}",
                f"the grammar follows {key} alone and would ignore {beside[0]} (move it into the {key} schema)",
            )
        if key == "$ref":
            self._ref(schema["$ref"], at(where, key))
            return
        subs = schema[key]
        if not isinstance(subs, list) or not subs:
            raise _refuse(f"{at(where, key)} must be a non-empty list of schemas.")
        for index, sub in enumerate(subs):
            self.node(sub, f"{at(where, key)}[{index}]")
        if key == "allOf" and len(subs) > 1:
            raise _unsupported(at(where, key), "the grammar cannot enforce several schemas at once (merge them into one)")
        if key == "oneOf":
            branches = [self._followed(sub) for sub in subs]  # pydantic writes each branch as a $ref to $defs
            for i in range(len(subs)):
                for j in range(i + 1, len(subs)):
                    if not _disjoint(branches[i], branches[j]):
                        raise _unsupported(
                            at(where, key),
                            f"schemas {i} and {j} may both match, and the grammar cannot rule that out (use anyOf, "
                            "or tell them apart by type, const/enum or a required property with const values)",
                        )

    def _followed(self, schema: Any) -> Any:
        """`schema`, or what its local `$ref` chain points to (checked already by `_ref`)."""
        seen: set[str] = set()
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and schema["$ref"] not in seen:
            seen.add(schema["$ref"])
            try:
                schema = resolve_ref(self.root, schema["$ref"])
            except KeyError:
                return schema
        return schema

    def _ref(self, ref: Any, where: str) -> None:
        seen = set()
        while True:
            if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")):
                raise _unsupported(f"{where} {ref!r}", "only references inside the schema ('#/$defs/...') are")
            try:
                target = resolve_ref(self.root, ref)
            except KeyError:
                raise _refuse(f"{where} {ref!r} points to nothing in the schema.") from None
            if ref in seen:
                raise _refuse(f"{where} {ref!r} refers to itself without a schema in between.")
            seen.add(ref)
            if not (isinstance(target, dict) and "$ref" in target):
                return
            ref = target["$ref"]

    def _integer(self, schema: dict, where: str, types: set[str]) -> None:
        self._number(schema, where, types)
        low, high = -math.inf, math.inf
        for key in BOUNDS:
            value = schema.get(key)
            if value is not None and not _whole(value) and types != {"integer"}:
                raise _refuse(f'{at(where, key)} {value} must be a whole number when "type" lists integer among others.')
        if "minimum" in schema:
            low = math.ceil(schema["minimum"])
        if "exclusiveMinimum" in schema:
            low = max(low, math.floor(schema["exclusiveMinimum"]) + 1)
        if "maximum" in schema:
            high = math.floor(schema["maximum"])
        if "exclusiveMaximum" in schema:
            high = min(high, math.ceil(schema["exclusiveMaximum"]) - 1)
        if low > high:
            raise _refuse(f"{where or 'the schema'} allows no integer: its bounds leave none between {low} and {high}.")
        step = schema.get("multipleOf")
        if step is not None and _whole(step) and math.isfinite(low) and math.isfinite(high):
            if -(-low // int(step)) * int(step) > high:  # the least multiple at or above low
                raise _refuse(f"{where or 'the schema'} allows no integer: no multiple of {step} lies between {low} and {high}.")

    def _number(self, schema: dict, where: str, types: set[str]) -> None:
        for key in (*BOUNDS, "multipleOf"):
            if key in schema and (isinstance(schema[key], bool) or not isinstance(schema[key], (int, float))):
                raise _refuse(f"{at(where, key)} must be a number.")
        if "multipleOf" in schema:
            if not schema["multipleOf"] > 0:
                raise _refuse(f"{at(where, 'multipleOf')} must be greater than 0.")
            if not grammar_multiple_of({**schema, "type": sorted(types)}):
                self._after(where, "multipleOf")

    def _string(self, schema: dict, where: str, types: set[str]) -> None:
        for key in ("minLength", "maxLength"):
            if key in schema and not _count(schema[key]):
                raise _refuse(f"{at(where, key)} must be a whole number >= 0.")
        shaped = [key for key in ("pattern", "format") if key in schema]
        if len(shaped) == 2:
            raise _unsupported(at(where, "pattern"), "beside format the grammar ignores it")
        sized = [key for key in ("minLength", "maxLength") if key in schema]
        if sized and (shaped and schema.get("format") not in ANY_STRING):
            for key in sized:  # the grammar ignores them beside a pattern or format
                self._after(where, key)
        if "pattern" in schema:
            pattern = schema["pattern"]
            if not isinstance(pattern, str):
                raise _refuse(f"{at(where, 'pattern')} must be a string.")
            check_python_syntax(pattern, f"--schema: {at(where, 'pattern')}")
            translate(pattern, f"--schema: {at(where, 'pattern')}")
        if "format" in schema and schema["format"] not in {**FORMATS, **AS_PATTERN, **dict.fromkeys(ANY_STRING)}:
            why = f"the grammar enforces only {', '.join([*FORMATS, *AS_PATTERN, *ANY_STRING])}"
            raise _unsupported(f"{at(where, 'format')} {schema['format']!r}", why)

    def _array(self, schema: dict, where: str, types: set[str]) -> None:
        for key in ("minItems", "maxItems"):
            if key in schema and not _count(schema[key]):
                raise _refuse(f"{at(where, key)} must be a whole number >= 0.")
        if "uniqueItems" in schema and not isinstance(schema["uniqueItems"], bool):
            raise _refuse(f"{at(where, 'uniqueItems')} must be true or false.")
        if schema.get("uniqueItems"):
            self._after(where, "uniqueItems")
        if isinstance(schema.get("items"), list):
            raise _unsupported(at(where, "items"), "a list of schemas in items is the old tuple form (use prefixItems)")
        if "items" in schema:
            self.node(schema["items"], at(where, "items"))
        prefix = schema.get("prefixItems", [])
        if not isinstance(prefix, list):
            raise _refuse(f"{at(where, 'prefixItems')} must be a list of schemas.")
        for index, sub in enumerate(prefix):
            self.node(sub, f"{at(where, 'prefixItems')}[{index}]")

    def _object(self, schema: dict, where: str, types: set[str]) -> None:
        for key in ("minProperties", "maxProperties"):
            if key in schema and not _count(schema[key]):
                raise _refuse(f"{at(where, key)} must be a whole number >= 0.")
        for key in ("properties", "patternProperties"):
            if not isinstance(schema.get(key, {}), dict):
                raise _refuse(f"{at(where, key)} must be an object.")
        for name, sub in schema.get("properties", {}).items():
            self.node(sub, at(at(where, "properties"), name))
        for pattern, sub in schema.get("patternProperties", {}).items():
            check_python_syntax(pattern, f"--schema: {at(where, 'patternProperties')}")
            translate(pattern, f"--schema: {at(where, 'patternProperties')}")
            self.node(sub, at(at(where, "patternProperties"), pattern))
        required = schema.get("required", [])
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise _refuse(f"{at(where, 'required')} must be a list of property names.")
        missing = [r for r in required if r not in schema.get("properties", {})]
        if missing:
            raise _refuse(f"{where or 'the schema'} requires {missing[0]!r}, which is not among its properties.")
        if "additionalProperties" in schema:
            self.node(schema["additionalProperties"], at(where, "additionalProperties"))
        if "propertyNames" in schema:
            self.node(schema["propertyNames"], at(where, "propertyNames"), implied="string")

    def _finite(self, schema: dict, where: str) -> None:
        if "enum" in schema and (not isinstance(schema["enum"], list) or not schema["enum"]):
            raise _refuse(f"{at(where, 'enum')} must be a non-empty list.")
        key = "const" if "const" in schema else "enum"
        for value in [schema["const"]] if key == "const" else schema["enum"]:
            reason = violation(value, schema, self.root)
            if reason is not None:
                raise _refuse(
                    f"{at(where, key)} value {json.dumps(value)} breaks the keywords beside it ({reason}), "
                    "which the grammar would not enforce."
                )


def _whole(value: Any) -> bool:
    return isinstance(value, int) or value.is_integer()


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _disjoint(a: Any, b: Any) -> bool:
    """True when no value can match both schemas (the proofs xgrammar makes for oneOf)."""
    first, second = _finite_values(a), _finite_values(b)
    if first is not None and second is not None:
        return not any(json_equal(x, y) for x in first for y in second)
    if first is not None or second is not None:
        values, other = (first, b) if first is not None else (second, a)
        kinds = _type_set(other)
        return kinds is not None and not any(has_type(v, k) for v in values for k in kinds)
    kinds_a, kinds_b = _type_set(a), _type_set(b)
    if kinds_a is not None and kinds_b is not None and not _types_overlap(kinds_a, kinds_b):
        return True
    return _discriminated(a, b)


def _finite_values(schema: Any) -> list[Any] | None:
    if not isinstance(schema, dict) or any(k in schema for k in COMBINATORS):
        return None
    if "const" in schema:
        return [schema["const"]]
    return list(schema["enum"]) if isinstance(schema.get("enum"), list) else None


def _type_set(schema: Any) -> set[str] | None:
    if not isinstance(schema, dict) or any(k in schema for k in COMBINATORS) or "type" not in schema:
        return None
    kind = schema["type"]
    return set(kind) if isinstance(kind, list) else {kind}


def _types_overlap(a: set[str], b: set[str]) -> bool:
    numeric = {"integer", "number"}
    return bool(a & b) or bool(a & numeric and b & numeric)


def _discriminated(a: Any, b: Any) -> bool:
    """Both objects only, with a property both require whose const/enum values differ."""
    if _type_set(a) != {"object"} or _type_set(b) != {"object"}:
        return False
    for name in set(a.get("required", [])) & set(b.get("required", [])):
        first = _finite_values(a.get("properties", {}).get(name))
        second = _finite_values(b.get("properties", {}).get(name))
        if first is not None and second is not None and not any(json_equal(x, y) for x in first for y in second):
            return True
    return False
