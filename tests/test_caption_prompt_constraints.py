"""caption-dir prompts with their own constraints: the prompt file's JSON lines, each row's
constraint in its answer_json and config_hash, and a mixed run equal to each prompt run alone."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vlmcli.captions.prompt_file import PromptSpec, read_prompt_file
from vlmcli.captions.prompts import make_prompts
from vlmcli.engine.config import GenerationConfig
from vlmcli.errors import ConfigError, InputError
from vlmcli.structured import ChoiceConstraint, RegexConstraint, SchemaConstraint

runner = CliRunner()
TAGS = '{"prompt": "Indoor or outdoor?", "choice": ["indoor", "outdoor"]}'
YEAR = '{"prompt": "Which year?", "regex": "[0-9]{4}", "schema_prompt": false}'


def test_plain_lines_stay_plain_and_json_lines_carry_a_constraint(tmp_path):
    (tmp_path / "n.json").write_text('{"type": "object", "properties": {"n": {"type": "integer"}}}')
    path = tmp_path / "prompts.txt"
    path.write_text(f"# mixed\nDescribe.\n{TAGS}\n\n{YEAR}\n"
                    '{"prompt": "How many?", "schema": "n.json"}\n{"prompt": "Any JSON", "json_mode": true}\n'
                    '{"prompt": "Inline", "schema": {"type": "boolean"}}\n')
    plain, tags, year, count, any_json, inline = read_prompt_file(path)
    assert plain == PromptSpec("Describe.")
    assert tags.text == "Indoor or outdoor?" and tags.constraint == ChoiceConstraint(("indoor", "outdoor"))
    assert year.constraint == RegexConstraint("[0-9]{4}") and year.schema_prompt is False
    assert count.constraint.schema == {"type": "object", "properties": {"n": {"type": "integer"}}}
    assert any_json.constraint.kind == "json" and inline.constraint == SchemaConstraint('{"type": "boolean"}')


@pytest.mark.parametrize(
    ("line", "error", "message"),
    [
        ('{"prompt": "x", "choice": []}', ConfigError, "line 2: \"choice\" must be a non-empty list"),
        ('{"prompt": "x", "tags": ["a"]}', ConfigError, "line 2: unknown key 'tags'"),
        ('{"choice": ["a"]}', ConfigError, 'line 2: an entry needs "prompt"'),
        ('{"prompt": "x", "choice": ["a"], "regex": "b"}', ConfigError, "--choice and --regex cannot be combined"),
        ('{"prompt": "x", "regex": "(oops"}', ConfigError, "not a valid regular expression"),
        ('{"prompt": "x", "schema": "missing.json"}', InputError, "line 2: --schema"),
        ('{not json', ConfigError, "line 2: a line starting with '{' must be one JSON object"),
        ('{"prompt": "x", "schema_prompt": "no"}', ConfigError, '"schema_prompt" must be true or false'),
    ],
)
def test_entry_mistakes_name_the_file_and_line(tmp_path, line, error, message):
    path = tmp_path / "prompts.txt"
    path.write_text(f"Describe.\n{line}\n")
    with pytest.raises(error) as info:
        read_prompt_file(path)
    assert message in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)


def test_own_constraints_win_plain_prompts_take_the_runs_and_hashes_differ():
    run = RegexConstraint("[a-z]+")
    tags = ChoiceConstraint(("indoor", "outdoor"))
    specs = [PromptSpec("Tag?"), PromptSpec("Tag?", constraint=tags), PromptSpec("Tag?", constraint=tags, schema_prompt=False),
             PromptSpec("Tag?")]
    base = dict(model="m", revision=None, system=None, generation=GenerationConfig())
    made = make_prompts(specs, **base, constraint=run)
    assert [p.constraint for p in made] == [run, tags, tags]  # the repeated plain prompt is dropped
    assert made[0].text.startswith("Tag?\nAnswer only with text") and made[1].text.endswith("indoor, outdoor.")
    assert made[2].text == "Tag?" and len({p.config_hash for p in made}) == 3
    free = make_prompts([PromptSpec("Tag?"), PromptSpec("Tag?", constraint=tags, schema_prompt=False)], **base)
    assert [p.constraint for p in free] == [None, tags] and free[0].text == free[1].text == "Tag?"
    assert free[0].config_hash != free[1].config_hash  # same text, different constraint: different rows
    assert made[2].config_hash == free[1].config_hash  # an own constraint hashes alike in any run


# -- end to end (real engine, tiny checkpoint) ------------------------------------------------------


@pytest.fixture
def setup(monkeypatch, tmp_path, tiny_checkpoint):
    pytest.importorskip("xgrammar")
    from vlmcli.testing.fakes import isolate_env, save_photo

    isolate_env(monkeypatch, tmp_path)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, name in enumerate(("astronaut", "coffee", "chelsea")):
        save_photo(photos / f"{i}.jpg", name=name)
    return ["caption-dir", str(photos), "-m", str(tiny_checkpoint("smolvlm")), "--format", "jsonl", "-q",
            "--max-tokens", "12"]


def _rows(out) -> list[dict]:
    return [json.loads(line) for f in sorted(out.glob("*.jsonl")) for line in f.read_text().splitlines()]


@pytest.mark.parametrize("batching", [[], ["--static-batching"]], ids=["continuous", "static"])
def test_a_mixed_run_equals_each_prompt_alone(setup, tmp_path, batching):
    args = [*setup, *batching]
    prompt_file = tmp_path / "prompts.txt"
    prompt_file.write_text(f"Describe.\n{TAGS}\n{YEAR}\n")
    mixed = tmp_path / "mixed"
    result = runner.invoke(app(), [*args, "-o", str(mixed), "--prompt-file", str(prompt_file), "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    rows = _rows(mixed)
    assert len(rows) == 9
    alone_flags = {
        "free": ["-p", "Describe."],
        "tags": ["-p", "Indoor or outdoor?", "--choice", "indoor", "--choice", "outdoor"],
        "year": ["-p", "Which year?", "--regex", "[0-9]{4}", "--no-schema-prompt"],
    }
    alone = {}
    for name, flags in alone_flags.items():
        out = tmp_path / name
        assert runner.invoke(app(), [*args, "-o", str(out), *flags, "--batch-size", "4"]).exit_code == 0
        alone |= {(r["path"], r["config_hash"]): r for r in _rows(out)}
    assert len(alone) == 9
    for row in rows:
        twin = alone[(row["path"], row["config_hash"])]  # same prompt and constraint: same hash
        assert (row["caption"], row["prompt"], row["answer_json"]) == (twin["caption"], twin["prompt"], twin["answer_json"])
        if row["prompt"].startswith("Indoor or outdoor?"):
            assert json.loads(row["answer_json"]) == row["caption"] in ("indoor", "outdoor")
        elif row["prompt"] == "Which year?":
            assert row["caption"].isdigit() and len(row["caption"]) == 4 and json.loads(row["answer_json"]) == row["caption"]
        else:
            assert row["prompt"] == "Describe." and row["answer_json"] is None


def test_resume_tells_constraints_apart(setup, tmp_path):
    out = tmp_path / "out"
    first = tmp_path / "first.txt"
    first.write_text('{"prompt": "Tag?", "choice": ["a", "b"], "schema_prompt": false}\n')
    assert runner.invoke(app(), [*setup, "-o", str(out), "--prompt-file", str(first)]).exit_code == 0
    assert len(_rows(out)) == 3
    again = runner.invoke(app(), [*setup, "-o", str(out), "--prompt-file", str(first), "--json"])
    assert again.exit_code == 0 and len(_rows(out)) == 3  # all done already
    other = tmp_path / "other.txt"
    other.write_text('{"prompt": "Tag?", "choice": ["c", "d"], "schema_prompt": false}\nTag?\n')
    assert runner.invoke(app(), [*setup, "-o", str(out), "--prompt-file", str(other)]).exit_code == 0
    rows = _rows(out)
    assert len(rows) == 9 and len({r["config_hash"] for r in rows}) == 3  # same text, three constraints
    by_hash: dict[str, set[str]] = {}
    for row in rows:
        by_hash.setdefault(row["config_hash"], set()).add(row["caption"] if row["answer_json"] else "free")
    assert any(v <= {"a", "b"} for v in by_hash.values()) and any(v <= {"c", "d"} for v in by_hash.values())
    assert {"free"} in by_hash.values()


def app():
    from vlmcli.cli import app as cli_app

    return cli_app
