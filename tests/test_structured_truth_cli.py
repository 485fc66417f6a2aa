"""A --max-tokens cut is never `valid` unless the grammar proves the answer finished, a number
JSON cannot hold is never `valid`, and refused constraints exit 2 with one line before loading."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

pytest.importorskip("xgrammar")

from vlmcli.cli import app  # noqa: E402
from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request  # noqa: E402
from vlmcli.engine.events import FinishReason  # noqa: E402
from vlmcli.structured import ChoiceConstraint, RegexConstraint, SchemaConstraint  # noqa: E402
from vlmcli.structured.guard import Guard  # noqa: E402
from vlmcli.testing import sample_photos  # noqa: E402
from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def engine(tiny_checkpoint):
    return Engine.load(EngineConfig(model=str(tiny_checkpoint("qwen2_5_vl")), device="cpu", dtype="float32"))


@pytest.fixture(scope="module")
def photo():
    return ImageInput(sample_photos()[0], source="photo")


def strict(text: str) -> object:
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON output"))


@pytest.mark.parametrize(
    ("constraint", "max_tokens"),
    [(SchemaConstraint('{"type": "integer"}'), 2), (RegexConstraint("[0-9]+"), 2), (ChoiceConstraint(("2", "20", "200")), 1)],
)
def test_a_length_cut_is_not_valid_even_when_it_parses(engine, photo, constraint, max_tokens):
    """On this checkpoint the cut texts are "204", "204" and "20": each parses, none is finished."""
    (result,) = engine.generate([Request(prompt="q", images=(photo,), constraint=constraint)], GenerationConfig(max_tokens=max_tokens))
    assert result.finish_reason is FinishReason.LENGTH, result.text
    assert (result.valid, result.parsed) == (False, None), result.text


def test_a_number_that_overflows_is_not_valid(engine, photo):
    """The grammar allows any exponent; "20E5959..." is no float, so not a valid answer."""
    request = Request(prompt="q", images=(photo,), constraint=SchemaConstraint('{"type": "number"}'))
    (result,) = engine.generate([request], GenerationConfig(max_tokens=30))
    assert result.finish_reason is FinishReason.STOP and math.isinf(float(result.text)), result.text
    assert (result.valid, result.parsed) == (False, None)


def test_the_json_line_never_holds_infinity(monkeypatch, tmp_path, tiny_checkpoint):
    isolate_env(monkeypatch, tmp_path)
    photo = str(save_photo(tmp_path / "astro.jpg"))
    args = ["ask", "-m", str(tiny_checkpoint("qwen2_5_vl")), photo, "q", "--json", "--no-schema-prompt",
            "--schema", '{"type": "number"}', "--max-tokens", "30"]
    result = runner.invoke(app, args)
    assert result.exit_code == 10, result.output  # not valid: exit 10, the JSON line still printed
    record = strict(result.stdout)
    assert record["finish_reason"] == "stop" and math.isinf(float(record["text"])), record["text"]
    assert (record["valid"], record["parsed"]) == (False, None)
    # finished, not cut: the warning does not say to raise --max-tokens
    assert result.stderr.splitlines() == [
        "warning: the answer does not satisfy --schema/--choice/--regex/--json-mode (it is not valid JSON of "
        "that shape); valid is false."
    ]


def test_the_guard_proves_an_answer_finished_only_when_nothing_else_could_follow(tiny_checkpoint):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint("qwen2_vl"))
    eos = frozenset({tokenizer.convert_tokens_to_ids("<|im_end|>")})
    constraints = [SchemaConstraint('{"type": "integer"}'), RegexConstraint("[0-9]{3}"), ChoiceConstraint(("2", "204"))]
    guard = Guard(constraints, tokenizer=tokenizer, vocab_size=len(tokenizer), eos=eos)
    for token in tokenizer.encode("204", add_special_tokens=False):
        for row in range(3):
            guard.advance(row, token)
    assert [guard.matchers[row].can_end() for row in range(3)] == [True, True, True]
    assert [guard.can_end(row) for row in range(3)] == [False, True, True]  # "2047..." could follow the integer


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--schema", '{"type": "object", "properties": {"v": {"type": "integer", "allOf": [{"minimum": 3}]}}}'],
         "properties.v.allOf"),
        (["--schema", '{"type": "object", "required": ["n"]}'], "requires 'n'"),
        (["--schema", '{"$ref": "https://example.com/s.json"}'], "$ref"),
        (["--regex", r"\AabZ"], r"\A"),
        (["--regex", "[[:digit:]]+"], "POSIX"),
    ],
)
def test_refused_constraints_exit_2_with_one_line_before_loading(monkeypatch, tmp_path, flags, named):
    isolate_env(monkeypatch, tmp_path)
    fake = install_fake_engine(monkeypatch)
    result = runner.invoke(app, ["ask", str(save_photo(tmp_path / "a.jpg")), "Q?", "--json", *flags])
    assert result.exit_code == 2 and named in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "Warning" not in result.stderr
    assert not fake.engines


def test_json_mode_zero_in_the_config_file_is_off(monkeypatch, tmp_path):
    from pathlib import Path

    from vlmcli.command_settings import check_table, command_settings

    path = Path(tmp_path / "config.toml")
    table = check_table("caption-dir", {"json_mode": 0, "choice": ["a", "b"]}, path)
    assert command_settings("caption-dir", table, path).values["json_mode"] is False
    assert command_settings("caption-dir", {"json_mode": 1}, path).values["json_mode"] is True
