"""Effective settings: command-line flags > environment > config file > built-in defaults.

The config file is TOML with flat keys (`model = "..."`, `max_tokens = 128`), read from
`$VLM_CONFIG` if set, else `$XDG_CONFIG_HOME/vlmcli/config.toml`, else
`~/.config/vlmcli/config.toml`. Every environment variable is `VLM_` + the key in upper
case (`VLM_MODEL`, `VLM_MAX_TOKENS`); an empty variable counts as unset.

Each resolved value remembers where it came from (`Origin`), so `vlm config` can say why a
setting has the value it has. One setting also has a switch outside vlmcli: huggingface_hub
reads `HF_HUB_OFFLINE` (or, when that is unset, `TRANSFORMERS_OFFLINE`) once at import and
then never opens a connection, whatever a command asks; so when that switch is on,
`offline` is true with that variable as its source, above any flag (`hub_offline_switch`).

Safety switches (`--trust-remote-code`, `--allow-pickle`) are deliberately *not* settings: they must be asked for on each command line.

A table named after a command (`[caption-dir]`) holds settings of that command only, from the
file alone: see `vlmcli.command_settings`.

This module only parses and checks types; range checks (max_tokens >= 1, ...) stay in
`EngineConfig` / `GenerationConfig`, the single place that owns them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vlmcli.command_settings import COMMAND_SPECS, CommandSettings, check_table, command_settings
from vlmcli.engine.config import Device, DType, GenerationConfig, parse_device
from vlmcli.families import DEFAULT_MODEL
from vlmcli.errors import ConfigError
from vlmcli.media.images import DEFAULT_MAX_PIXELS
from vlmcli.quantize.mode import Quantize
from vlmcli.setting_values import (
    TRUE_WORDS,
    Origin,
    SettingSpec,
    Source,
    parse_bool,
    parse_enum,
    parse_float,
    parse_int,
    parse_non_negative_int,
    parse_setting,
    parse_str,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

CONFIG_ENV = "VLM_CONFIG"
"""Environment variable naming an explicit config file (which then must exist)."""



def hub_offline_switch(env: Mapping[str, str]) -> str | None:
    """The variable that puts huggingface_hub offline, or None.

    Mirrors `huggingface_hub.constants.HF_HUB_OFFLINE`: the value of `HF_HUB_OFFLINE`, or
    of `TRANSFORMERS_OFFLINE` when the former is unset or empty, counts when it is one of
    1/true/yes/on (any case).
    """
    name = "HF_HUB_OFFLINE" if env.get("HF_HUB_OFFLINE") else "TRANSFORMERS_OFFLINE"
    return name if env.get(name, "").lower() in TRUE_WORDS else None


_GEN = GenerationConfig()  # its defaults are the built-in defaults: one source of truth

SPECS: tuple[SettingSpec, ...] = (
    SettingSpec("model", parse_str, DEFAULT_MODEL, "Hub id or local folder of the model."),
    SettingSpec("revision", parse_str, None, "Hub branch, tag or commit."),
    SettingSpec("device", parse_device, Device.AUTO, "auto, cpu, cuda, cuda:N (one GPU of several) or mps."),
    SettingSpec("dtype", parse_enum(DType), DType.AUTO, "auto, float32, bfloat16 or float16."),
    SettingSpec("quantize", parse_enum(Quantize), Quantize.NONE, "none or int8 (int8 linear layers on the CPU)."),
    SettingSpec("offline", parse_bool, False, "Use only the local hub cache; never the network."),
    SettingSpec("max_tokens", parse_int, _GEN.max_tokens, "Most new tokens per answer."),
    SettingSpec("temperature", parse_float, _GEN.temperature, "0 is greedy; higher samples more freely."),
    SettingSpec("top_p", parse_float, _GEN.top_p, "Nucleus sampling threshold."),
    SettingSpec("top_k", parse_int, _GEN.top_k, "Sample among the k most likely tokens; 0 disables."),
    SettingSpec("seed", parse_int, _GEN.seed, "Seed for sampling."),
    SettingSpec(
        "max_image_pixels",
        parse_non_negative_int,
        DEFAULT_MAX_PIXELS,
        "Largest image accepted, in pixels; 0 disables the check.",
    ),
)
SPEC_BY_NAME: Mapping[str, SettingSpec] = {spec.name: spec for spec in SPECS}


@dataclass(frozen=True)
class Settings:
    """The effective value of every setting, and where each came from."""

    model: str
    revision: str | None
    device: Device | str
    """A `Device`, or "cuda:N" (`engine.config.parse_device`)."""
    dtype: DType
    quantize: Quantize
    offline: bool
    max_tokens: int
    temperature: float
    top_p: float
    top_k: int
    seed: int | None
    max_image_pixels: int
    origins: Mapping[str, Origin]
    config_file: Path
    config_file_found: bool
    commands: Mapping[str, CommandSettings]
    """Every command of COMMAND_SPECS -> its table's values (file or default; flags apply later)."""

    def spelled(self, name: str) -> str:
        """Setting `name` as the user wrote it, for messages: `--device cuda`, `$VLM_DEVICE=cuda`,
        `device = "cuda" in ~/.config/vlmcli/config.toml` (a default as its flag)."""
        value = getattr(self, name)
        text = str(getattr(value, "value", value))
        origin = self.origins[name]
        if origin.source is Source.ENV:
            return f"${origin.detail}={text}"
        if origin.source is Source.FILE:
            return f'{name} = "{text}" in {origin.detail}'
        flag = origin.detail if origin.source is Source.FLAG else f"--{name.replace('_', '-')}"
        return f"{flag} {text}"

    def items(self) -> list[tuple[str, object, Origin]]:
        """(name, value, origin) for every setting, in a stable order."""
        return [(spec.name, getattr(self, spec.name), self.origins[spec.name]) for spec in SPECS]


def _beside(config: Path, model: str) -> str:
    """A model folder written `./x` or `../x` in the config file is beside the file (as a
    `schema` file is), not in whatever folder a command is run from."""
    if model.startswith(("./", "../", ".\\", "..\\")):
        return str(config.parent / model)
    return model


def config_path(env: Mapping[str, str] | None = None) -> tuple[Path, bool]:
    """The config file to read, and whether it was named explicitly (then it must exist)."""
    env = os.environ if env is None else env
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser(), True
    xdg = env.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / "vlmcli" / "config.toml", False


def read_config_file(path: Path, *, required: bool = False) -> dict[str, object] | None:
    """The file's raw key/values (keys normalised to snake_case; a command's table, checked, under
    the command's name), or None when it does not exist."""
    if not path.exists():
        if required:
            raise ConfigError(f"Config file {path} (from ${CONFIG_ENV}) does not exist.")
        return None
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8").removeprefix("\ufeff"))  # a BOM (Notepad) is not TOML
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"Cannot read config file {path}: {reason}.") from None
    raw = {key.replace("-", "_"): value for key, value in data.items() if key not in COMMAND_SPECS}
    unknown = sorted(set(raw) - set(SPEC_BY_NAME))
    if unknown:
        known = ", ".join(SPEC_BY_NAME)
        tables = ", ".join(f"[{c}]" for c in COMMAND_SPECS)
        raise ConfigError(f"Unknown setting {unknown[0]!r} in config file {path}; known settings: {known}; tables: {tables}.")
    for command in COMMAND_SPECS:
        if command in data:
            raw[command] = check_table(command, data[command], path)
    return raw


def _apply_hub_switch(values: dict[str, object], origins: dict[str, Origin], env: Mapping[str, str]) -> None:
    """huggingface_hub's own offline switch wins over everything (it is what happens): `offline`
    becomes true with the variable as its source, naming what it overrides, unless a flag or
    $VLM_OFFLINE already said true."""
    switch = hub_offline_switch(env)
    origin = origins["offline"]
    if switch is None or (values["offline"] is True and origin.source in (Source.FLAG, Source.ENV)):
        return
    overrides = f" (overrides {origin})" if values["offline"] is False and origin.source is not Source.DEFAULT else ""
    values["offline"], origins["offline"] = True, Origin(Source.ENV, switch + overrides)


def resolve(
    flags: Mapping[str, object | None] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    flag_names: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve every setting. `flags` maps setting names to values given on the command line
    (None = not given); `flag_names` maps them to the flag spelling for `vlm config` output."""
    env = os.environ if env is None else env
    flags = flags or {}
    unknown_flags = set(flags) - set(SPEC_BY_NAME)
    if unknown_flags:
        raise ValueError(f"not settings: {sorted(unknown_flags)}")
    path, explicit = config_path(env)
    file_values = read_config_file(path, required=explicit)

    values: dict[str, object] = {}
    origins: dict[str, Origin] = {}
    tables = file_values or {}
    commands = {c: command_settings(c, tables.get(c), path) for c in COMMAND_SPECS}  # type: ignore[arg-type]
    for spec in SPECS:
        flag_value = flags.get(spec.name)
        if flag_value is not None:
            name = (flag_names or {}).get(spec.name, "--" + spec.name.replace("_", "-"))
            values[spec.name], origins[spec.name] = flag_value, Origin(Source.FLAG, name)
        elif env.get(spec.env, "").strip():
            values[spec.name] = parse_setting(spec, env[spec.env], f"(from ${spec.env})")
            origins[spec.name] = Origin(Source.ENV, spec.env)
        elif file_values is not None and spec.name in file_values:
            values[spec.name] = parse_setting(spec, file_values[spec.name], f"in config file {path}")
            origins[spec.name] = Origin(Source.FILE, str(path))
            if spec.name == "model":
                values["model"] = _beside(path, str(values["model"]))
        else:
            values[spec.name], origins[spec.name] = spec.default, Origin(Source.DEFAULT, "built-in")
    _apply_hub_switch(values, origins, env)
    return Settings(
        **values,  # type: ignore[arg-type]
        origins=origins,
        config_file=path,
        config_file_found=file_values is not None,
        commands=commands,
    )
