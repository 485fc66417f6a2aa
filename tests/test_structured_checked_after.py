"""Keywords common pydantic fields write that the grammar cannot enforce (lengths beside a pattern or
format, uniqueItems, multipleOf beside bounds or on a number) are taken, named in one setup warning,
and checked after generation, so `valid` still tells the truth; keywords that change structure
stay refused. Also pins what xgrammar 0.2.9 itself does with each (ignores it, without an error)."""

from __future__ import annotations

import json

import pytest

from vlmcli.errors import ConfigError
from vlmcli.structured import SchemaConstraint
from vlmcli.structured.verdict import checked_after_note, judge

URL = {"type": "string", "format": "uri", "minLength": 1, "maxLength": 30}  # pydantic's HttpUrl, shorter
CODE = {"type": "string", "pattern": r"^\d+$", "maxLength": 4}  # Field(pattern=..., max_length=4)
TAGS = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}  # set[str]
STEP = {"type": "integer", "multipleOf": 5, "minimum": 0, "maximum": 100}  # Field(multiple_of=5, ge=0, le=100)
HALF = {"type": "number", "multipleOf": 0.5, "minimum": 0}  # float, Field(multiple_of=0.5, ge=0)
BLOB = {"type": "string", "format": "binary"}  # bytes
B64 = {"type": "string", "format": "base64url"}  # bytes with ser_json_bytes='base64'
MODEL = {
    "type": "object",
    "properties": {"url": URL, "code": CODE, "tags": TAGS, "n": STEP, "f": HALF, "b": BLOB, "e": B64},
    "required": ["url", "code", "tags", "n", "f", "b", "e"],
}
GOOD = {"url": "https://example.com/a", "code": "1234", "tags": ["a", "b"], "n": 35, "f": 2.5, "b": "x\u0001", "e": "aGk="}


def schema_constraint(schema: dict) -> SchemaConstraint:
    return SchemaConstraint(json.dumps(schema))


def test_pydantic_fields_are_taken_and_named_once():
    constraint = schema_constraint(MODEL)
    assert constraint.checked_after() == (
        "minLength at properties.url", "maxLength at properties.url", "maxLength at properties.code",
        "uniqueItems at properties.tags", "multipleOf at properties.n", "multipleOf at properties.f",
    )
    note = checked_after_note(constraint)
    assert note.startswith("--schema: minLength at properties.url, maxLength at properties.url, ") and "\n" not in note
    assert note.endswith("are checked after the answer, not enforced while generating; an answer that breaks one "
                         "is reported valid: false.")
    assert checked_after_note(schema_constraint({"type": "integer", "multipleOf": 5})) is None  # the grammar does it
    assert checked_after_note(schema_constraint({**TAGS, "uniqueItems": False})) is None
    assert checked_after_note(schema_constraint(CODE)) == (
        "--schema: maxLength at the top level is checked after the answer, not enforced while generating; "
        "an answer that breaks it is reported valid: false."
    )


def test_values_listed_by_enum_leave_nothing_to_check_after():
    assert schema_constraint({**TAGS, "enum": [["a", "b"]]}).checked_after() == ()


def test_a_satisfying_answer_is_valid():
    verdict = judge(schema_constraint(MODEL), json.dumps(GOOD), complete=True)
    assert verdict.valid and verdict.parsed == GOOD


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("url", "https://example.com/" + "a" * 20, "outside minLength/maxLength"),
        ("url", "not a url", "is not a uri"),
        ("url", "example.com", "is not a uri"),
        ("code", "12345", "outside minLength/maxLength"),
        ("tags", ["a", "b", "a"], "repeats an earlier item"),
        ("n", 36, "not a multiple of 5"),
        ("f", 2.3, "not a multiple of 0.5"),
        ("e", "a+b/", "is not a base64url"),
    ],
)
def test_an_answer_that_breaks_a_keyword_left_to_the_check_is_not_valid(field, value, reason):
    constraint = schema_constraint(MODEL)
    assert judge(constraint, json.dumps({**GOOD, field: value}), complete=True).valid is False
    with pytest.raises(ValueError, match=reason):
        constraint.parse(json.dumps({**GOOD, field: value}))


def test_multiples_are_exact():
    point = schema_constraint({"type": "number", "multipleOf": 0.1})
    assert point.parse("0.3") == 0.3 and point.parse("1e300") == 1e300
    assert judge(point, "0.35", complete=True).valid is False
    assert judge(schema_constraint({"type": "integer", "multipleOf": 2000}), "4001", complete=True).valid is False
    assert judge(schema_constraint({"type": "array", "uniqueItems": True, "items": {}}), "[1, 1.0]", complete=True).valid is False


@pytest.mark.parametrize(
    ("schema", "named"),
    [
        ({"type": "integer", "allOf": [{"minimum": 3}, {"maximum": 5}]}, "allOf"),
        ({"type": "integer", "if": {"minimum": 3}, "then": {"maximum": 5}}, "if"),
        ({"type": "integer", "not": {"const": 3}}, "not"),
        ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, "oneOf"),
        ({"$ref": "https://example.com/s.json"}, "$ref"),
        ({"type": "array", "items": {"type": "integer"}, "contains": {"const": 3}}, "contains"),
        ({"type": "object", "properties": {"a": {}, "b": {}}, "dependentRequired": {"a": ["b"]}}, "dependentRequired"),
        ({"type": "string", "format": "hostname"}, "format 'hostname'"),
        ({"type": "string", "pattern": "^a$", "format": "uri"}, "pattern"),
    ],
)
def test_keywords_that_change_structure_stay_refused(schema, named):
    with pytest.raises(ConfigError) as caught:
        schema_constraint(schema)
    assert named in str(caught.value) and caught.value.exit_code == 2


# --- what xgrammar 0.2.9 does with each kept keyword, given as written and as vlmcli sends it ---


@pytest.fixture(scope="module")
def accepts():
    xgr = pytest.importorskip("xgrammar")
    from xgrammar.testing import _is_grammar_accept_string

    from vlmcli.structured.xgrammar_backend import SEPARATORS, for_grammar

    def accepts(schema: dict, text: str, *, raw: bool = False) -> bool:
        sent = schema if raw else for_grammar(schema)
        grammar = xgr.Grammar.from_json_schema(json.dumps(sent), any_whitespace=False, separators=SEPARATORS)
        return _is_grammar_accept_string(grammar, text)

    return accepts


@pytest.mark.parametrize(
    ("schema", "breaks", "keeps"),
    [
        (URL, '"https://example.com/aaaaaaaaaaaaaaaaaaaaaaa"', '"not a url"'),  # lengths dropped, format kept
        (CODE, '"12345"', '"12a"'),  # maxLength dropped, pattern kept
        (TAGS, '["a", "a"]', '["a", 1]'),  # uniqueItems dropped, items kept
        (HALF, "2.3", "-1"),  # multipleOf dropped, minimum kept
        ({"type": "integer", "multipleOf": 3, "minimum": 0, "maximum": 10**9}, "4", "-3"),
    ],
)
def test_xgrammar_ignores_each_kept_keyword_without_an_error(accepts, schema, breaks, keeps):
    """Given as written it compiles and lets the breaking answer through (so vlmcli must check it
    after); as vlmcli sends it, the same; the rest of the schema is enforced either way."""
    assert accepts(schema, breaks, raw=True) and accepts(schema, breaks)
    assert not accepts(schema, keeps, raw=True) and not accepts(schema, keeps)


def test_xgrammar_enforces_multiple_of_beside_bounds_only_for_some_ranges(accepts):
    """Why vlmcli leaves it to the check after generation there, and sends the bounds alone."""
    assert not accepts(STEP, "7", raw=True) and accepts(STEP, "7")
    assert accepts({"type": "integer", "multipleOf": 3, "minimum": 0, "maximum": 10**9}, "4", raw=True)


def test_formats_xgrammar_does_not_know_are_sent_as_what_they_mean(accepts):
    assert accepts(B64, '"!!"', raw=True)  # xgrammar ignores an unknown format
    assert accepts(B64, '"aGk="') and not accepts(B64, '"!!"')
    assert accepts(BLOB, '"any text"') and accepts({**BLOB, "maxLength": 3}, '"abc"')
    assert not accepts({**BLOB, "maxLength": 3}, '"abcd"')  # no pattern beside it: the lengths are enforced


# --- end to end on a tiny checkpoint: the grammar leaves the keyword to the check, which tells the truth ---

FORCED = [  # the grammar forces the answer's shape, so the verdict does not depend on the random weights
    ({"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 3, "maxItems": 3, "uniqueItems": True}, False),
    ({"type": "array", "items": {"enum": ["a"]}, "minItems": 1, "maxItems": 1, "uniqueItems": True}, True),
    ({"type": "string", "pattern": "^a{5}$", "maxLength": 3}, False),
    ({"type": "string", "pattern": "^a{2}$", "maxLength": 3}, True),
]


@pytest.fixture(scope="module")
def engine(tiny_checkpoint):
    pytest.importorskip("xgrammar")
    from vlmcli.engine import Engine, EngineConfig

    return Engine.load(EngineConfig(model=str(tiny_checkpoint("qwen2_5_vl")), device="cpu", dtype="float32"))


@pytest.mark.parametrize(("schema", "valid"), FORCED)
def test_the_verdict_on_a_real_answer_tells_the_truth(engine, schema, valid):
    from vlmcli.engine import GenerationConfig, ImageInput, Request
    from vlmcli.engine.events import FinishReason
    from vlmcli.testing import sample_photos

    request = Request(prompt="q", images=(ImageInput(sample_photos()[0], source="photo"),), constraint=schema_constraint(schema))
    (result,) = engine.generate([request], GenerationConfig(max_tokens=30))
    assert result.finish_reason is FinishReason.STOP, result.text
    assert result.valid is valid, result.text
    assert (result.parsed == json.loads(result.text)) if valid else result.parsed is None


def test_ask_on_a_real_model_warns_at_setup_and_exits_10(monkeypatch, tmp_path, tiny_checkpoint):
    pytest.importorskip("xgrammar")
    from typer.testing import CliRunner

    from vlmcli.cli import app
    from vlmcli.testing.fakes import isolate_env, save_photo

    isolate_env(monkeypatch, tmp_path)
    photo = str(save_photo(tmp_path / "a.jpg"))
    schema = json.dumps({"type": "object", "properties": {"tags": FORCED[0][0]}, "required": ["tags"]})
    args = ["ask", "-m", str(tiny_checkpoint("smolvlm")), photo, "Tags?", "--schema", schema, "--json", "--max-tokens", "40"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 10, result.output
    record = json.loads(result.stdout)
    assert record["finish_reason"] == "stop" and (record["valid"], record["parsed"]) == (False, None), record["text"]
    assert result.stderr.splitlines()[0] == (
        "warning: --schema: uniqueItems at properties.tags is checked after the answer, not enforced while "
        "generating; an answer that breaks it is reported valid: false."
    )


@pytest.mark.parametrize("command", ["caption-dir", "video-summarize"])
def test_every_command_says_at_setup_what_is_checked_after(monkeypatch, tmp_path, tiny_checkpoint, command):
    """The warning comes from the shared flag group, so caption-dir and video-summarize say it too
    (a dry run reaches it: it is said before any input is read)."""
    pytest.importorskip("xgrammar")
    from typer.testing import CliRunner

    from vlmcli.cli import app
    from vlmcli.testing.fakes import isolate_env, save_photo

    isolate_env(monkeypatch, tmp_path)
    (tmp_path / "in").mkdir()
    save_photo(tmp_path / "in" / "a.jpg")
    schema = json.dumps({"type": "object", "properties": {"tags": FORCED[0][0]}, "required": ["tags"]})
    target = [str(tmp_path / "in"), "-o", str(tmp_path / "out")] if command == "caption-dir" else [str(tmp_path / "v.mp4")]
    args = [command, "-m", str(tiny_checkpoint("smolvlm")), *target, "--schema", schema, "--dry-run"]
    result = CliRunner().invoke(app, args)
    assert "warning: --schema: uniqueItems at properties.tags is checked after the answer" in result.stderr, result.output


def test_a_prompt_file_constraint_is_named_with_its_prompt(monkeypatch, tmp_path, tiny_checkpoint):
    pytest.importorskip("xgrammar")
    from typer.testing import CliRunner

    from vlmcli.cli import app
    from vlmcli.testing.fakes import isolate_env, save_photo

    isolate_env(monkeypatch, tmp_path)
    (tmp_path / "in").mkdir()
    save_photo(tmp_path / "in" / "a.jpg")
    prompts = tmp_path / "prompts.jsonl"
    entry = {"prompt": "Tags?", "schema": {"type": "object", "properties": {"tags": FORCED[0][0]}, "required": ["tags"]}}
    prompts.write_text("Describe.\n" + json.dumps(entry) + "\n")
    args = ["caption-dir", "-m", str(tiny_checkpoint("smolvlm")), str(tmp_path / "in"), "-o", str(tmp_path / "out"),
            "--prompt-file", str(prompts), "--dry-run"]
    result = CliRunner().invoke(app, args)
    lines = [line for line in result.stderr.splitlines() if "checked after the answer" in line]
    assert lines == [
        f"warning: {prompts}, prompt 'Tags?': --schema: uniqueItems at properties.tags is checked after the answer, "
        "not enforced while generating; an answer that breaks it is reported valid: false."
    ], result.output
