"""`vlm ask --question TEXT`: a question that is also a file name in the current folder.

The last argument of `vlm ask` is the question, and one that names a file is refused as an
input given by mistake (`vlm ask photo.jpg other.jpg`). A question that happens to be a file
name (`describe`, a file saved as `What is this?`) is asked with --question, and the refusal
says so; with --question every argument is an input.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("question", ["describe", "What is this?"])
def test_a_question_that_is_a_file_name_is_refused_with_the_way_out(monkeypatch, tmp_path, question):
    fake = install_fake_engine(monkeypatch)
    photo = save_photo(tmp_path / "photo.jpg").name
    (tmp_path / question).write_bytes(b"x")
    result = runner.invoke(app, ["ask", photo, question])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert f"but {question!r} is an input" in line and "pass it with --question" in line
    assert fake.engines == []


@pytest.mark.parametrize("question", ["describe", "What is this?"])
def test_question_option_asks_it(monkeypatch, tmp_path, question):
    fake = install_fake_engine(monkeypatch)
    photo = save_photo(tmp_path / "photo.jpg").name
    (tmp_path / question).write_bytes(b"x")
    result = runner.invoke(app, ["ask", photo, "--question", question])
    assert result.exit_code == 0, result.output
    assert fake.requests[0].prompt == question
    assert [image.source for image in fake.requests[0].images] == [photo]


def test_with_question_option_every_argument_is_an_input(monkeypatch, tmp_path):
    fake = install_fake_engine(monkeypatch)
    first = save_photo(tmp_path / "a.jpg").name
    second = save_photo(tmp_path / "b.png", format="PNG").name
    result = runner.invoke(app, ["ask", "--question", "Which is brighter?", first, second])
    assert result.exit_code == 0, result.output
    assert fake.requests[0].prompt == "Which is brighter?"
    assert [image.source for image in fake.requests[0].images] == [first, second]


def test_question_option_refuses_an_empty_question_and_no_question_is_a_usage_error(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    photo = save_photo(tmp_path / "photo.jpg").name
    empty = runner.invoke(app, ["ask", photo, "--question", " "])
    assert empty.exit_code == 2 and empty.stderr.splitlines() == ["Error: The question (--question) is empty."]
    missing = runner.invoke(app, ["ask", "--json"])
    assert missing.exit_code == 2 and "Missing the question" in missing.stderr and "--question" in missing.stderr


def test_ask_help_names_the_option():
    result = runner.invoke(app, ["ask", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--question" in result.stdout and "ask photo.jpg --question describe" in result.stdout
