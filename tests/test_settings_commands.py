"""Per-command tables in config.toml: which keys each command takes, their origins, flags over
the file (a constraint flag replaces the file's constraint whatever its kind), one-line errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.command_settings import COMMAND_SPECS, CONSTRAINT_NAMES
from vlmcli.commands.structured_options import StructuredOptions
from vlmcli.errors import ConfigError, InputError
from vlmcli.settings import Source, resolve
from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo

runner = CliRunner()


def write_config(tmp_path, text: str):
    path = tmp_path / "xdg-config" / "vlmcli" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def env(tmp_path):
    return {"XDG_CONFIG_HOME": str(tmp_path / "xdg-config")}


def test_a_command_table_is_read_with_its_origin(tmp_path, env):
    path = write_config(tmp_path, 'model = "m"\n[caption-dir]\nchoice = ["indoor", "outdoor"]\nschema-prompt = false\n')
    table = resolve(env=env).commands["caption-dir"]
    assert table.values["choice"] == ("indoor", "outdoor") and table.values["schema_prompt"] is False
    assert table.origins["choice"].source is Source.FILE and table.origins["choice"].detail == f"{path} [caption-dir]"
    assert table.origins["regex"].source is Source.DEFAULT and table.values["json_mode"] is False
    other = resolve(env=env).commands["video-summarize"]
    assert all(origin.source is Source.DEFAULT for _, _, origin in other.items())


def test_every_command_with_structured_flags_has_a_table():
    assert set(COMMAND_SPECS) == {"ask", "describe", "caption-dir", "video-summarize"}
    for command in ("caption-dir", "video-summarize"):
        assert CONSTRAINT_NAMES <= {spec.name for spec in COMMAND_SPECS[command]}
    for command in ("ask", "describe"):
        assert [spec.name for spec in COMMAND_SPECS[command]] == ["schema_prompt"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[ask]\nchoice = ["a", "b"]\n', "applies to caption-dir and video-summarize only; give --choice"),
        ("[describe]\njson_mode = true\n", "give --json-mode on the command line"),
        ('[caption-dir]\nprompt = "x"\n', "Unknown setting 'prompt' in [caption-dir]"),
        ('[caption-dir]\nchoice = ["a"]\nregex = "[0-9]"\n', "sets choice and regex: give one kind"),
        ('[caption-dir]\nchoice = "indoor"\n', "choice in [caption-dir] of config file"),
        ("[caption-dir]\nchoice = []\n", "must be a non-empty list of non-empty strings"),
        ('[caption_dir]\nchoice = ["a"]\n', "tables: [ask], [describe], [caption-dir], [video-summarize]"),
        ('caption-dir = "x"\n', "[caption-dir] in config file"),
    ],
)
def test_mistakes_in_a_table_are_config_errors(tmp_path, env, text, message):
    write_config(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        resolve(env=env)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_schema_file_is_found_beside_the_config_file_and_a_toml_table_is_a_schema(tmp_path, env):
    path = write_config(tmp_path, '[caption-dir]\nschema = "tags.json"\n[video-summarize.schema]\ntype = "object"\n')
    settings = resolve(env=env)
    assert settings.commands["caption-dir"].values["schema"] == str(path.parent / "tags.json")
    assert json.loads(settings.commands["video-summarize"].values["schema"]) == {"type": "object"}


def _answer(env, tmp_path, text: str, command: str = "caption-dir", **flags):
    pytest.importorskip("xgrammar")
    write_config(tmp_path, text)
    return StructuredOptions(**flags).answer(resolve(env=env), command=command)


def test_the_file_constraint_applies_unless_a_flag_replaces_it(tmp_path, env):
    text = '[caption-dir]\nchoice = ["indoor", "outdoor"]\nschema_prompt = false\n'
    answer = _answer(env, tmp_path, text)
    assert answer.constraint.options == ("indoor", "outdoor") and answer.state is False
    assert answer.prompt("Where?") == "Where?"
    replaced = _answer(env, tmp_path, text, regex="[0-9]{2}", schema_prompt=True)
    assert replaced.constraint.kind == "regex" and replaced.state is True
    assert replaced.prompt("Q?").startswith("Q?\nAnswer only with text that matches")
    assert _answer(env, tmp_path, text, json_mode=True).constraint.kind == "json"
    assert _answer(env, tmp_path, text, no_constraint=True).constraint is None
    with pytest.raises(ConfigError, match="--no-constraint cannot be combined"):
        _answer(env, tmp_path, text, no_constraint=True, choice=["a"])


def test_without_a_file_the_defaults_are_the_old_behaviour(tmp_path, env):
    answer = _answer(env, tmp_path, "", command="ask", choice=["a", "b"])
    assert answer.constraint.options == ("a", "b") and answer.state is True
    assert _answer(env, tmp_path, "", command="ask").constraint is None


def test_a_bad_schema_in_the_file_names_the_table(tmp_path, env):
    with pytest.raises(InputError, match=r"In \[caption-dir\] of config file .*config.toml: --schema"):
        _answer(env, tmp_path, '[caption-dir]\nschema = "missing.json"\n')


# -- on the command line ------------------------------------------------------------------------


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def test_vlm_config_shows_command_tables_with_their_origins(isolated, tmp_path):
    path = write_config(tmp_path, '[caption-dir]\nchoice = ["indoor", "outdoor"]\n')
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 0, result.output
    line = next(row for row in result.stdout.splitlines() if row.startswith("caption-dir.choice"))
    assert '["indoor", "outdoor"]' in line and f"file {path} [caption-dir]" in line
    record = json.loads(runner.invoke(app, ["config", "--json"]).stdout)
    assert record["commands"]["caption-dir"]["choice"] == {"value": ["indoor", "outdoor"], "source": "file",
                                                           "from": f"{path} [caption-dir]"}
    assert record["commands"]["ask"]["schema_prompt"]["source"] == "default"


def test_a_table_mistake_is_one_line_exit_2(isolated, tmp_path):
    write_config(tmp_path, '[ask]\nregex = "x"\n')
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "[ask]" in result.stderr


def test_ask_takes_schema_prompt_from_its_table(isolated, monkeypatch, tmp_path):
    pytest.importorskip("xgrammar")
    fake = install_fake_engine(monkeypatch)
    photo = str(save_photo(tmp_path / "a.jpg"))
    write_config(tmp_path, "[ask]\nschema_prompt = false\n")
    assert runner.invoke(app, ["ask", photo, "Where?", "--choice", "in", "--choice", "out"]).exit_code == 0
    assert runner.invoke(app, ["ask", photo, "Where?", "--choice", "in", "--choice", "out",
                               "--schema-prompt"]).exit_code == 0
    plain, stated = (engine.calls[0][0][0] for engine in fake.engines)
    assert plain.prompt == "Where?" and stated.prompt == "Where?\nAnswer with exactly one of: in, out."


def test_caption_dir_uses_its_table_and_flags_override_it(isolated, tmp_path, tiny_checkpoint):
    pytest.importorskip("xgrammar")
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, name in enumerate(("astronaut", "coffee")):
        save_photo(photos / f"{i}.jpg", name=name)
    write_config(tmp_path, '[caption-dir]\nchoice = ["indoor", "outdoor"]\n')
    base = ["caption-dir", str(photos), "-m", str(tiny_checkpoint("smolvlm")), "--format", "jsonl", "-q"]

    def rows(out, *flags):
        result = runner.invoke(app, [*base, "-o", str(tmp_path / out), *flags])
        assert result.exit_code == 0, result.output
        return [json.loads(line) for f in (tmp_path / out).glob("*.jsonl") for line in f.read_text().splitlines()]

    tags = rows("tags")
    assert len(tags) == 2 and all(json.loads(r["answer_json"]) == r["caption"] in ("indoor", "outdoor") for r in tags)
    digits = rows("digits", "--regex", "[0-9]{2}")
    assert all(len(r["caption"]) == 2 and r["caption"].isdigit() for r in digits)
    free = rows("free", "--no-constraint", "--max-tokens", "2")
    assert all(r["answer_json"] is None for r in free)
