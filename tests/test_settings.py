"""Settings precedence (flag > env > file > default), sources, and config-file errors."""

from __future__ import annotations

from dataclasses import fields

import pytest

from vlmcli.engine.config import Device, DType
from vlmcli.families import DEFAULT_MODEL
from vlmcli.errors import ConfigError
from vlmcli.settings import SPEC_BY_NAME, Settings, Source, config_path, resolve


def write_config(tmp_path, text: str):
    path = tmp_path / "xdg" / "vlmcli" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def env(tmp_path):
    return {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}


def test_settings_fields_match_specs():
    extra = {"origins", "config_file", "config_file_found", "commands"}
    assert {f.name for f in fields(Settings)} - extra == set(SPEC_BY_NAME)


def test_defaults_when_nothing_is_set(env):
    s = resolve(env=env)
    assert s.model == DEFAULT_MODEL and s.device is Device.AUTO and s.max_tokens == 256 and s.temperature == 0.0
    assert all(origin.source is Source.DEFAULT for _, _, origin in s.items())
    assert not s.config_file_found


def test_precedence_flag_over_env_over_file_over_default(tmp_path, env):
    path = write_config(tmp_path, 'model = "file/model"\nmax_tokens = 5\ntemperature = 0.5\ndevice = "cpu"\n')
    env |= {"VLM_MAX_TOKENS": "7", "VLM_TEMPERATURE": "0.7"}
    s = resolve({"temperature": 0.9}, env=env)
    assert (s.model, s.max_tokens, s.temperature, s.device, s.dtype) == ("file/model", 7, 0.9, Device.CPU, DType.AUTO)
    assert s.origins["model"].source is Source.FILE and s.origins["model"].detail == str(path)
    assert s.origins["max_tokens"].source is Source.ENV and s.origins["max_tokens"].detail == "VLM_MAX_TOKENS"
    assert s.origins["temperature"].source is Source.FLAG and s.origins["temperature"].detail == "--temperature"
    assert s.origins["dtype"].source is Source.DEFAULT
    assert s.config_file_found


def test_env_values_are_parsed(env):
    env |= {"VLM_DEVICE": "CUDA", "VLM_DTYPE": "bfloat16", "VLM_OFFLINE": "yes", "VLM_SEED": "42", "VLM_TOP_P": "0.5"}
    s = resolve(env=env)
    assert (s.device, s.dtype, s.offline, s.seed, s.top_p) == (Device.CUDA, DType.BFLOAT16, True, 42, 0.5)


def test_empty_env_var_counts_as_unset(env):
    assert resolve(env=env | {"VLM_MODEL": "  "}).model == DEFAULT_MODEL


def test_hyphenated_file_keys_are_accepted(tmp_path, env):
    write_config(tmp_path, "max-tokens = 12\n")
    assert resolve(env=env).max_tokens == 12


def test_config_path_respects_xdg_and_explicit_file(tmp_path):
    path, explicit = config_path({"XDG_CONFIG_HOME": "/x"})
    assert str(path) == "/x/vlmcli/config.toml" and not explicit
    assert config_path({"XDG_CONFIG_HOME": "relative"})[0].parts[-3:] == (".config", "vlmcli", "config.toml")
    assert config_path({"VLM_CONFIG": str(tmp_path / "c.toml")}) == (tmp_path / "c.toml", True)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("model = [unclosed\n", "not valid TOML"),
        ('colour = "red"\n', "Unknown setting 'colour'"),
        ('max_tokens = "many"\n', "max_tokens in config file"),
        ("device = 3\n", "device in config file"),
        ('offline = "perhaps"\n', "offline in config file"),
    ],
)
def test_bad_config_file_is_a_config_error_naming_the_file(tmp_path, env, text, needle):
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        resolve(env=env)
    message = str(info.value)
    assert needle in message and str(path) in message and "\n" not in message


def test_explicit_config_file_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        resolve(env={"VLM_CONFIG": str(tmp_path / "missing.toml")})


def test_config_path_that_is_a_directory(tmp_path):
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(ConfigError, match="Cannot read config file"):
        resolve(env={"VLM_CONFIG": str(tmp_path / "dir.toml")})


@pytest.mark.parametrize(("var", "value"), [("VLM_MAX_TOKENS", "lots"), ("VLM_TEMPERATURE", "hot"), ("VLM_DEVICE", "tpu")])
def test_bad_env_value_names_the_variable(env, var, value):
    with pytest.raises(ConfigError, match=var):
        resolve(env=env | {var: value})


def test_a_relative_model_folder_in_the_config_file_is_beside_it(tmp_path):
    """`model = "./models/mine"` was looked for in whatever folder a command ran in."""
    config = tmp_path / "cfg" / "config.toml"
    config.parent.mkdir()
    config.write_text('model = "./models/mine"\n')
    settings = resolve({}, env={"VLM_CONFIG": str(config)})
    assert settings.model == str(tmp_path / "cfg" / "models" / "mine")
    config.write_text('model = "org/name"\n')
    assert resolve({}, env={"VLM_CONFIG": str(config)}).model == "org/name"
