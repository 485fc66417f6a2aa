"""Regexes mean one thing: what xgrammar would read differently from Python's `re` is refused
(one line, no FutureWarning), the check after generation reads the pattern as xgrammar does,
--choice options reach xgrammar without escapes it warns about, and compiling prints nothing."""

from __future__ import annotations

import json
import re
import warnings

import pytest

from vlmcli.errors import ConfigError
from vlmcli.structured import ChoiceConstraint, RegexConstraint, SchemaConstraint
from vlmcli.structured.verdict import judge

OPTIONS = ("a#b", "c&d", "e~f", "x y", "l\nm", "t\tu", 'say "hi"', "50% off!", "a.b*c", "(x|y)", "[z]", "{1}",
           "back\\slash", "^$", "café", "-dash-", "a/b", "@=<>,;:'`")
CANDIDATES = ["", "a", "ab", "AabZ", "a\nb", "ab\n", "12", "١٢", "a b", "a\u2003b", "a\x1cb", "é", "_", "-", "]", "{1}"]


@pytest.mark.parametrize(
    ("pattern", "named"),
    [
        (r"\AabZ", r"\A"), (r"a\Z", r"\Z"), (r"\bab", r"\b"), (r"a\Bb", r"\B"),
        (r"[[:digit:]]+", "POSIX"), ("a^b", "'^'"), ("a$b", "'$'"), ("(?=a)a", "group"), ("(?i)a", "group"),
        ("(?P<n>a)", "group"), ("a*+", "repetition"), ("a{x}", "'{'"), (r"\01", r"\0"), ("[]a]", "']'"),
    ],
)
def test_what_xgrammar_reads_differently_is_refused(pattern, named):
    re.purge()  # Python warns only when it compiles a pattern, not from its cache
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(ConfigError) as caught:
            RegexConstraint(pattern)
    message = str(caught.value)
    assert caught.value.exit_code == 2 and named in message and "\n" not in message, message
    assert not [w for w in seen if issubclass(w.category, FutureWarning)]


def test_z_is_refused_too():
    with pytest.raises(ConfigError, match=r"--regex 'a\\z'"):  # as typed, not Python's doubled backslash
        RegexConstraint(r"a\z")


def test_schema_patterns_are_held_to_the_same_rules():
    with pytest.raises(ConfigError, match=r"properties.code.pattern '\\bx'"):
        SchemaConstraint(json.dumps({"type": "object", "properties": {"code": {"type": "string", "pattern": r"\bx"}}}))
    with pytest.raises(ConfigError, match="patternProperties"):
        SchemaConstraint(json.dumps({"type": "object", "patternProperties": {r"\Ax": {"type": "integer"}}}))


@pytest.mark.parametrize(
    ("pattern", "answer", "valid"),
    [
        ("[0-9]+", "12", True), ("[0-9]+", "12a", False), (r"\d+", "١٢", False), (r"\w", "é", False),
        ("a.b", "a\nb", True), (r"a\sb", "a\u2003b", True), (r"a\sb", "a\x1cb", False), ("^ab$", "ab\n", False),
    ],
)
def test_a_regex_answer_is_checked_as_xgrammar_reads_it(pattern, answer, valid):
    assert judge(RegexConstraint(pattern), answer, complete=True).valid is valid


def test_a_choice_answer_must_be_one_of_the_options():
    assert judge(ChoiceConstraint(("2", "20")), "200", complete=True).valid is False
    assert judge(ChoiceConstraint(("2", "20")), "20", complete=True).parsed == "20"


def test_choice_regex_escapes_only_what_xgrammar_needs():
    from vlmcli.structured.regex_dialect import translate

    regex = ChoiceConstraint(OPTIONS).regex()
    assert "\\#" not in regex and "\\ " not in regex and "\\&" not in regex and "\\~" not in regex
    assert all(re.fullmatch(translate(regex, "--choice").python, option) for option in OPTIONS)


xgr = pytest.importorskip("xgrammar")
from xgrammar.testing import _is_grammar_accept_string as accepts  # noqa: E402


def test_choice_options_compile_silently_and_match_themselves(capfd):
    grammar = xgr.Grammar.from_regex(ChoiceConstraint(OPTIONS).regex())
    assert capfd.readouterr().err == ""  # no "Escape sequence '\#' is not recognized"
    assert all(accepts(grammar, option) for option in OPTIONS)
    assert not accepts(grammar, "a#") and not accepts(grammar, "l m")


@pytest.mark.parametrize(
    "pattern",
    [r"\d+", r"\D\w\W", r"\s\S", r"[\s\d]+", r"[^\S]", r"[^\w.]+", "a.b", "^a+$", "(a|b)*c?", r"(?:ab){1,2}",
     r"\#\ \&\~-", r"[\#\&\-]", r"\x41\u00e9", r"[\b]", r"\.\*\+\?\(\)\[\]\{\}\|\/\\", "x}y]", "[a-]", "a|", r"\0"],
)
def test_xgrammar_and_the_check_agree(pattern, capfd):
    from vlmcli.structured.regex_dialect import translate

    translated = translate(pattern, "--regex")
    grammar = xgr.Grammar.from_regex(translated.grammar)
    assert capfd.readouterr().err == ""
    python = re.compile(translated.python)
    singles = [chr(c) for c in range(1, 0x3100) if not 0xD800 <= c < 0xE000]
    words = CANDIDATES + ["#  &~-", "A\u00e9", "\b", ".*+?()[]{}|/\\", "x}y]", "\x00", "aab", "aabab"]
    for text in singles + words:
        assert accepts(grammar, text) == bool(python.fullmatch(text)), (pattern, text)


def test_compiling_prints_nothing_on_stderr(capfd):
    """xgrammar's own warnings (here its oneOf fallback, which vlmcli proves unnecessary) stay off fd 2."""
    from vlmcli.structured.xgrammar_backend import XGrammarBackend

    info = xgr.TokenizerInfo([chr(c) for c in range(32, 127)])
    compiler = xgr.GrammarCompiler(info, max_threads=1)
    schema = SchemaConstraint('{"oneOf": [{"type": "string", "maxLength": 3}, {"type": "integer"}]}')
    XGrammarBackend._compile(schema, compiler)
    XGrammarBackend._compile(RegexConstraint(r"\#\ x"), compiler)
    assert capfd.readouterr().err == ""


def test_xgrammar_errors_lose_their_log_prefix():
    from vlmcli.structured.xgrammar_backend import XGrammarBackend, native_message

    raw = RuntimeError("[18:28:16] /project/cpp/json_schema_converter.cc:5082: Invalid range: minimum greater than maximum")
    assert native_message(raw) == "Invalid range: minimum greater than maximum"
    compiler = xgr.GrammarCompiler(xgr.TokenizerInfo([chr(c) for c in range(32, 127)]), max_threads=1)
    with pytest.raises(ConfigError) as caught:
        XGrammarBackend._compile(SchemaConstraint('{"type": "integer", "minimum": 9223372036854775808}'), compiler)
    message = str(caught.value)
    assert message.startswith("--schema cannot be compiled to a grammar: ") and ".cc:" not in message and "[" not in message
