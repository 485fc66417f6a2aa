"""`ask` and `describe` print an answer that is not valid (cut by --max-tokens, or failing the check
after generation) and its warning, then exit 10; with several inputs an input that failed (9)
outranks it. One `warning:` line at setup names the keywords left to the check after generation."""

from __future__ import annotations

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.engine.events import FinishReason
from vlmcli.structured.verdict import judge
from vlmcli.testing import fakes
from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo

runner = CliRunner()
SETUP = "warning: --schema: maxLength at the top level is checked after the answer"


@pytest.fixture(autouse=True)
def _judging_fake(monkeypatch, tmp_path):
    """The fake engine answers `answer(request)` and judges it as the real engine does."""
    isolate_env(monkeypatch, tmp_path)
    plain = fakes.FakeEngine._result

    def judged(self, request, toks, gen):
        result = plain(self, request, toks, gen)
        if request.constraint is None:
            return result
        verdict = judge(request.constraint, result.text, complete=result.finish_reason is FinishReason.STOP)
        return dataclasses.replace(result, valid=verdict.valid, parsed=verdict.parsed)

    monkeypatch.setattr(fakes.FakeEngine, "_result", judged)
    pytest.importorskip("xgrammar")  # the constraint flags need the structured extra


def answers(mapping):
    return lambda request: mapping[request.images[0].source.rsplit("/", 1)[-1]]


def test_ask_exits_10_when_the_answer_fails_the_check_after_generation(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch, answer=lambda request: '"12345"')
    photo = str(save_photo(tmp_path / "a.jpg"))
    schema = '{"type": "string", "pattern": "^[0-9]+$", "maxLength": 4}'
    result = runner.invoke(app, ["ask", photo, "Code?", "--schema", schema])
    assert result.exit_code == 10, result.output
    assert result.stdout == '"12345"\n'  # still printed
    lines = result.stderr.splitlines()
    assert lines[0].startswith(SETUP) and len(lines) == 2 and "valid is false" in lines[1]


def test_ask_json_is_printed_in_full_with_exit_10(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch, answer=lambda request: '"12345"')
    photo = str(save_photo(tmp_path / "a.jpg"))
    schema = '{"type": "string", "pattern": "^[0-9]+$", "maxLength": 4}'
    result = runner.invoke(app, ["ask", photo, "Code?", "--schema", schema, "--json"])
    assert result.exit_code == 10, result.output
    record = json.loads(result.stdout)
    assert (record["text"], record["valid"], record["parsed"]) == ('"12345"', False, None)
    assert record["finish_reason"] == "stop" and "timings" in record


def test_ask_exits_0_when_the_answer_satisfies_it(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch, answer=lambda request: '"1234"')
    photo = str(save_photo(tmp_path / "a.jpg"))
    schema = '{"type": "string", "pattern": "^[0-9]+$", "maxLength": 4}'
    result = runner.invoke(app, ["ask", photo, "Code?", "--schema", schema, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["valid"] is True and result.stderr.splitlines()[0].startswith(SETUP)


def test_ask_exits_10_when_max_tokens_cuts_the_answer(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch, answer=lambda request: "yes it is")
    photo = str(save_photo(tmp_path / "a.jpg"))
    result = runner.invoke(app, ["ask", photo, "Q?", "--regex", "yes it is", "--max-tokens", "1"])
    assert result.exit_code == 10 and result.stdout == "yes \n" and "raise --max-tokens" in result.stderr


def test_a_free_text_cut_still_exits_0(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch, answer=lambda request: "yes it is")
    photo = str(save_photo(tmp_path / "a.jpg"))
    assert runner.invoke(app, ["ask", photo, "Q?", "--max-tokens", "1"]).exit_code == 0


def test_describe_exits_10_when_every_input_is_described_but_one_answer_is_not_valid(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch, answer=answers({"a.jpg": "yes", "b.jpg": "maybe"}))
    photos = [str(save_photo(tmp_path / name)) for name in ("a.jpg", "b.jpg")]
    result = runner.invoke(app, ["describe", *photos, "--regex", "yes|no|maybe.", "--json"])
    assert result.exit_code == 10, result.output
    assert [json.loads(line)["valid"] for line in result.stdout.splitlines()] == [True, False]
    ok = runner.invoke(app, ["describe", photos[0], "--regex", "yes|no"])
    assert ok.exit_code == 0 and ok.stdout == "yes\n"


def test_describe_an_input_that_failed_outranks_an_answer_that_is_not_valid(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch, answer=answers({"a.jpg": "maybe"}))
    photo = str(save_photo(tmp_path / "a.jpg"))
    result = runner.invoke(app, ["describe", photo, str(tmp_path / "missing.jpg"), "--regex", "yes|no|maybe."])
    assert result.exit_code == 9, result.output
