"""Constraint specs, flags, prompt wording, verdicts and the caption config hash (no model)."""

from __future__ import annotations

import json

import pytest

from vlmcli.captions.prompts import config_hash, make_prompts
from vlmcli.errors import ConfigError, InputError
from vlmcli.structured import (
    ChoiceConstraint,
    JsonModeConstraint,
    RegexConstraint,
    SchemaConstraint,
    constraint_from_flags,
    with_instruction,
)
from vlmcli.structured.verdict import judge

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


def test_flags_give_one_constraint_or_none():
    assert constraint_from_flags() is None
    assert constraint_from_flags(choices=["a", "b"]) == ChoiceConstraint(("a", "b"))
    assert constraint_from_flags(regex="[0-9]+") == RegexConstraint("[0-9]+")
    assert constraint_from_flags(json_mode=True) == JsonModeConstraint()
    assert constraint_from_flags(schema=json.dumps(SCHEMA)).schema == SCHEMA
    with pytest.raises(ConfigError, match="--choice and --regex cannot be combined"):
        constraint_from_flags(choices=["a"], regex="b")


def test_schema_from_file_or_inline(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(SCHEMA))
    assert constraint_from_flags(schema=str(path)) == constraint_from_flags(schema=" " + json.dumps(SCHEMA))
    with pytest.raises(InputError, match="neither inline JSON"):
        constraint_from_flags(schema=str(tmp_path / "missing.json"))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SchemaConstraint("{not json"), "not valid JSON"),
        (lambda: SchemaConstraint('{"type": "thing"}'), "unknown type 'thing'"),
        (lambda: SchemaConstraint('{"type": "object", "properties": {"a": {}}, "required": ["b"]}'), "requires 'b'"),
        (lambda: SchemaConstraint('{"enum": []}'), "non-empty list"),
        (lambda: SchemaConstraint("[1]"), "must be a JSON object"),
        (lambda: ChoiceConstraint(()), "at least one"),
        (lambda: ChoiceConstraint(("a", " ")), "must not be empty"),
        (lambda: ChoiceConstraint(("a", "a")), "given twice"),
        (lambda: RegexConstraint("(unclosed"), "not a valid regular expression"),
    ],
)
def test_bad_constraints_fail_at_parsing(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_equal_schemas_have_one_key():
    a = SchemaConstraint('{"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}')
    b = SchemaConstraint(json.dumps(SCHEMA))
    assert a.key() == b.key()


def test_instruction_is_stated_unless_turned_off():
    choice = ChoiceConstraint(("indoor", "outdoor"))
    assert with_instruction("Where?", choice) == "Where?\nAnswer with exactly one of: indoor, outdoor."
    assert with_instruction("Where?", choice, state=False) == "Where?"
    assert with_instruction("Where?", None) == "Where?"
    assert json.dumps(SCHEMA) in with_instruction("Q", SchemaConstraint(json.dumps(SCHEMA)))


def test_verdict_needs_a_complete_answer_that_parses():
    schema = SchemaConstraint(json.dumps(SCHEMA))
    assert judge(schema, '{"n": 3}', complete=True).parsed == {"n": 3}
    assert not judge(schema, '{"n": 3', complete=False).valid
    assert judge(schema, '{"n": 3', complete=False).parsed is None
    assert not judge(schema, "{broken", complete=True).valid
    assert judge(ChoiceConstraint(("yes", "no")), "yes", complete=True).parsed == "yes"
    assert not judge(schema, '{"n": 3, "s": "\ufffd"}', complete=True).valid  # bytes that were not UTF-8


def test_config_hash_covers_the_constraint_and_keeps_free_text_hashes():
    base = dict(model="m", revision=None, prompt="p", system=None, generation={"t": 0})
    assert config_hash(**base) == config_hash(**base, constraint=None)
    tags = ChoiceConstraint(("a", "b"))
    assert config_hash(**base, constraint=tags) != config_hash(**base)
    assert config_hash(**base, constraint=tags) != config_hash(**base, constraint=ChoiceConstraint(("a", "c")))
    prompts = make_prompts(["Tag it."], model="m", revision=None, system=None, generation={}, constraint=tags)
    assert prompts[0].constraint == tags and prompts[0].text == "Tag it.\nAnswer with exactly one of: a, b."
    quiet = make_prompts(["Tag it."], model="m", revision=None, system=None, generation={}, constraint=tags,
                         state_constraint=False)
    assert quiet[0].text == "Tag it." and quiet[0].config_hash != prompts[0].config_hash
