"""What the user reads about a constraint: regex refusals quote the pattern as typed and name a
same-meaning rewrite; --choice options that hold a comma are quoted in the stated instruction."""

from __future__ import annotations

import json

import pytest

from vlmcli.errors import ConfigError
from vlmcli.structured import ChoiceConstraint, RegexConstraint, SchemaConstraint, with_instruction
from vlmcli.structured.regex_dialect import translate


def refusal(pattern: str) -> str:
    with pytest.raises(ConfigError) as caught:
        RegexConstraint(pattern)
    message = str(caught.value)
    assert "\n" not in message and caught.value.exit_code == 2
    return message


def test_the_pattern_is_quoted_as_typed():
    assert refusal(r"\d+\bx").startswith("--regex '\\d+\\bx': ")  # one backslash each, not Python's two
    assert refusal(r"\d(?=x)").startswith("--regex '\\d(?=x)': ")
    assert refusal("(x").startswith("--regex '(x' is not a valid regular expression")
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": r"\d\Z"}}}
    with pytest.raises(ConfigError, match=r"properties\.code\.pattern '\\d\\Z': "):
        SchemaConstraint(json.dumps(schema))


@pytest.mark.parametrize(
    ("pattern", "names", "rewrite"),
    [
        ("[[:digit:]]+", "the POSIX class [:digit:] is not supported", "[0-9]+"),
        ("x[^[:alpha:]_]", "the POSIX class [:alpha:] is not supported", "x[^a-zA-Z_]"),
        ("[[:upper:][:digit:]]", "the POSIX class [:upper:] is not supported", "[A-Z0-9]"),
    ],
)
def test_a_posix_class_is_named_with_its_replacement(pattern, names, rewrite):
    message = refusal(pattern)
    assert names in message and message.endswith(f"'{rewrite}').")
    translate(rewrite, "--regex")  # the suggestion is taken


def test_an_unknown_posix_class_still_gets_a_whole_sentence():
    message = refusal("[[:foo:]]")
    assert "the POSIX class [:foo:] is not supported (list the characters instead" in message and message.endswith(").")


def test_an_upto_repetition_is_refused_with_advice_of_the_same_meaning():
    message = refusal("a{,3}")
    assert "'a{0,3}'" in message and "\\{" not in message, message
    assert "'x(ab){0,3}y'" in refusal("x(ab){,3}y")
    assert RegexConstraint("a{0,3}").parse("aaa") == "aaa"


def test_choices_with_a_comma_are_quoted_in_the_instruction():
    choice = ChoiceConstraint(("yes, it is", "no"))
    assert choice.instruction() == 'Answer with exactly one of: "yes, it is", "no".'
    assert ChoiceConstraint((" padded", "b")).instruction() == 'Answer with exactly one of: " padded", "b".'


def test_plain_choices_are_stated_as_before():
    """The prompt text feeds caption-dir's config hash: runs without such choices keep theirs."""
    assert with_instruction("Where?", ChoiceConstraint(("indoor", "outdoor"))) == (
        "Where?\nAnswer with exactly one of: indoor, outdoor."
    )
    assert ChoiceConstraint(('say "hi"', "a-b")).instruction() == 'Answer with exactly one of: say "hi", a-b.'
