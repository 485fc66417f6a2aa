"""`valid` tells the truth for --schema and --json-mode: what the grammar cannot enforce is refused
up front (naming the keyword and where it is; the few keywords left to the check after generation
are in test_structured_checked_after.py), and every answer is checked against the schema
after generation (strict JSON: no duplicate keys, NaN, Infinity or overflowing numbers)."""

from __future__ import annotations

import json

import pytest

from vlmcli.errors import ConfigError
from vlmcli.structured import JsonModeConstraint, SchemaConstraint
from vlmcli.structured.verdict import judge

INT = {"type": "integer"}


def obj(**properties) -> dict:
    return {"type": "object", "properties": properties}


@pytest.mark.parametrize(
    ("schema", "where"),
    [
        (obj(v={"allOf": [INT, {"minimum": 3}]}), "properties.v.allOf"),
        (obj(v={"type": "integer", "allOf": [{"minimum": 3}]}), "properties.v.allOf beside type"),
        (obj(v={"type": "integer", "if": {"minimum": 3}, "then": {"maximum": 5}}), "properties.v.if"),
        (obj(v={"type": "integer", "not": {"const": 3}}), "properties.v.not"),
        ({"type": "array", "items": INT, "contains": {"const": 3}}, "contains"),
        ({**obj(a=INT, b=INT), "dependentRequired": {"a": ["b"]}}, "dependentRequired"),
        ({**obj(a=INT, b=INT), "dependentSchemas": {"a": {"required": ["b"]}}}, "dependentSchemas"),
        ({"oneOf": [INT, {"type": "number"}]}, "oneOf"),
        (obj(n={"oneOf": [{"type": "string", "maxLength": 3}, {"type": "string", "pattern": "^a+$"}]}), "properties.n.oneOf"),
        ({"type": "object", "required": ["n"]}, "requires 'n'"),
        ({"$ref": "https://example.com/n.json"}, "$ref 'https://example.com/n.json'"),
        (obj(host={"type": "string", "format": "hostname"}), "properties.host.format 'hostname'"),
        ({"minimum": 3}, "minimum"),
        ({"$ref": "#/$defs/n", "type": "string", "$defs": {"n": INT}}, "$ref beside type"),
        ({"type": "integer", "enum": [1, "a"]}, "enum value \"a\""),
        ({"type": "array", "items": [INT]}, "items"),
        ({"type": "array", "items": INT, "uniqueItems": "yes"}, "uniqueItems must be true or false"),
        ({"type": "number", "multipleOf": 0}, "multipleOf must be greater than 0"),
        ({"type": "integer", "multipleOf": 5, "minimum": 1, "maximum": 4}, "no multiple of 5"),
        (obj(v={"type": "integer", "minimum": 1.2, "maximum": 1.8}), "properties.v allows no integer"),
    ],
)
def test_what_the_grammar_cannot_enforce_is_refused_naming_where(schema, where):
    with pytest.raises(ConfigError) as caught:
        SchemaConstraint(json.dumps(schema))
    message = str(caught.value)
    assert caught.value.exit_code == 2 and where in message and "\n" not in message, message


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"subject": {"type": "string", "maxLength": 40}, "people": {"type": "integer", "minimum": 0},
                                          "setting": {"enum": ["home", "office"]}}, "required": ["subject", "people", "setting"]},
        {"oneOf": [INT, {"type": "string"}]},
        {"oneOf": [{**obj(kind={"const": "cat"}, lives=INT), "required": ["kind"]},
                   {**obj(kind={"const": "dog"}, name={"type": "string"}), "required": ["kind"]}]},
        {"$defs": {"n": INT}, "type": "object", "properties": {"n": {"$ref": "#/$defs/n"}}},
        {"allOf": [INT]},
        {"type": "array", "prefixItems": [INT, {"type": "string", "format": "date"}]},
        {"type": "object", "patternProperties": {"^[a-z]+$": INT}, "maxProperties": 3},
        {"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}, "additionalProperties": INT},
        {"type": "integer", "multipleOf": 5},
        {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$", "description": "a month"},
    ],
)
def test_what_the_grammar_enforces_is_accepted(schema):
    SchemaConstraint(json.dumps(schema))


@pytest.mark.parametrize(
    ("schema", "answer", "valid"),
    [
        (obj(v={"type": "integer", "minimum": 3}), '{"v": 1}', False),
        (obj(v={"type": "integer", "minimum": 3}), '{"v": 3}', True),
        (obj(tags={"type": "array", "items": {"type": "string", "maxLength": 3}}), '{"tags": ["abcd"]}', False),
        (obj(tags={"type": "array", "items": {"type": "string", "maxLength": 3}}), '{"tags": ["abc"]}', True),
        ({**obj(n=INT), "required": ["n"]}, "{}", False),
        (obj(n=INT), '{"n": 1, "extra": 2}', False),  # a schema object allows only the properties it lists
        ({"type": "string", "format": "date"}, '"2024-02-30x"', False),
        ({"type": "string", "format": "date"}, '"2024-02-03"', True),
        ({"type": "string", "pattern": "^[a-z]+$"}, '"abc1"', False),
        ({"oneOf": [INT, {"type": "string"}]}, "1.5", False),
        ({"type": "array", "prefixItems": [INT]}, "[1, 2]", False),
    ],
)
def test_valid_means_the_answer_satisfies_the_schema(schema, answer, valid):
    verdict = judge(SchemaConstraint(json.dumps(schema)), answer, complete=True)
    assert verdict.valid is valid and (verdict.parsed is None) is (not valid)


@pytest.mark.parametrize("answer", ["1e999", "-1E400", "NaN", "Infinity", "-Infinity", '{"a": 1e999}', "[NaN]"])
def test_numbers_json_cannot_carry_are_not_valid(answer):
    for constraint in (SchemaConstraint("{}"), SchemaConstraint('{"type": "number"}')):
        verdict = judge(constraint, answer, complete=True)
        assert verdict.valid is False and verdict.parsed is None, (constraint, answer)
    assert judge(JsonModeConstraint(), '{"a": 1e999}', complete=True).valid is False


def test_valid_parsed_values_always_print_as_strict_json():
    big = "20475146951475147514751475"
    verdict = judge(SchemaConstraint('{"type": "integer"}'), big, complete=True)
    assert verdict.valid and verdict.parsed == int(big)  # kept exact
    assert json.dumps(verdict.parsed, allow_nan=False) == big
    assert judge(SchemaConstraint("{}"), "1.5e3", complete=True).parsed == 1500.0


@pytest.mark.parametrize(
    ("constraint", "answer"),
    [
        (SchemaConstraint('{"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}, "maxProperties": 1}'), '{"dog": 5, "dog": 5}'),
        (SchemaConstraint('{"type": "object", "patternProperties": {"^d": {"type": "integer"}}}'), '{"dog": 5, "dog": 6}'),
        (SchemaConstraint("{}"), '{"a": {"b": 1, "b": 1}}'),
        (JsonModeConstraint(), '{"dog": 5, "dog": 5}'),
    ],
)
def test_duplicate_keys_are_not_valid(constraint, answer):
    from vlmcli.structured.schema_validate import strict_loads

    verdict = judge(constraint, answer, complete=True)
    assert verdict.valid is False and verdict.parsed is None
    with pytest.raises(ValueError, match="duplicate key 'dog'|duplicate key 'b'"):
        strict_loads(answer)


def test_fractional_integer_bounds_round_inward():
    """A valid JSON Schema xgrammar refuses ("Integer constraint must be a whole number")."""
    constraint = SchemaConstraint(json.dumps(obj(v={"type": "integer", "minimum": 1.5, "exclusiveMaximum": 4.5})))
    assert [judge(constraint, f'{{"v": {n}}}', complete=True).valid for n in (1, 2, 4, 5)] == [False, True, True, False]
    from vlmcli.structured.xgrammar_backend import for_grammar

    assert for_grammar(constraint.schema)["properties"]["v"] == {"type": "integer", "minimum": 2, "maximum": 4}


def test_enum_and_const_values_are_checked_against_their_siblings():
    from vlmcli.structured.schema_validate import violation

    assert violation("abc", {"type": "string", "enum": ["abc"], "maxLength": 3}) is None
    with pytest.raises(ConfigError, match=r"const value \"abcd\" breaks"):
        SchemaConstraint('{"type": "string", "const": "abcd", "maxLength": 3}')


def test_a_pydantic_discriminated_union_is_accepted_and_checked():
    """pydantic writes `Union[Dog, Cat] = Field(discriminator="kind")` as a oneOf of $refs with an
    OpenAPI `discriminator`: refused ("discriminator is not supported", then "may both match",
    the overlap check not following $ref), though the branches' const values tell them apart."""
    branch = lambda kind, field, kind_type: {  # noqa: E731
        "type": "object", "required": ["kind", field],
        "properties": {"kind": {"const": kind, "type": "string"}, field: {"type": kind_type}},
    }
    schema = {
        "$defs": {"Dog": branch("dog", "bark", "boolean"), "Cat": branch("cat", "meow", "integer")},
        "type": "object", "required": ["pet"],
        "properties": {"pet": {
            "oneOf": [{"$ref": "#/$defs/Dog"}, {"$ref": "#/$defs/Cat"}],
            "discriminator": {"propertyName": "kind", "mapping": {"dog": "#/$defs/Dog", "cat": "#/$defs/Cat"}},
        }},
    }
    constraint = SchemaConstraint(json.dumps(schema))
    assert constraint.parse('{"pet": {"kind": "dog", "bark": true}}') == {"pet": {"kind": "dog", "bark": True}}
    with pytest.raises(ValueError):  # checked after generation like any answer
        constraint.parse('{"pet": {"kind": "dog", "meow": 3}}')
    overlapping = {"$defs": {"A": {"type": "object", "properties": {"x": INT}}, "B": {"type": "object"}},
                   "oneOf": [{"$ref": "#/$defs/A"}, {"$ref": "#/$defs/B"}]}
    with pytest.raises(ConfigError, match="may both match"):
        SchemaConstraint(json.dumps(overlapping))
