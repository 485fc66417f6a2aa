"""`vlm config` against behaviour: every setting, set by flag, environment or config file,
shows the value and source that a command really runs with; huggingface_hub's own offline
switches (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE) show as offline=true and really are offline."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import huggingface_hub.constants  # noqa: F401 - read its switches now, before a test sets them
import pytest
from typer.testing import CliRunner

from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo
from vlmcli.cli import app
from vlmcli.settings import SPEC_BY_NAME

runner = CliRunner()
HUB_SWITCHES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def _gen(name):
    return lambda fake, result: getattr(fake.engine.calls[0][1], name)


def _engine(name):
    return lambda fake, result: _plain(getattr(fake.engine.config, name))


def _pixel_limit(fake, result):
    """The limit the image loader applied, read back from its refusal (the photo is 0.26 MP)."""
    assert result.exit_code == 3, result.output
    return int(float(result.stderr.split("above the limit of ")[1].split(" MP")[0]) * 1e6)


def _plain(value):
    return getattr(value, "value", value)


# setting: (flag args, env value, TOML value, {source: expected value}, how to observe what the command used)
TABLE = {
    "model": (["-m", "flag/model"], "env/model", '"file/model"', ("flag/model", "env/model", "file/model"), _engine("model")),
    "revision": (["--revision", "v3"], "v2", '"v1"', ("v3", "v2", "v1"), _engine("revision")),
    "device": (["--device", "mps"], "cuda", '"cpu"', ("mps", "cuda", "cpu"), _engine("device")),
    "dtype": (["--dtype", "bfloat16"], "float16", '"float32"', ("bfloat16", "float16", "float32"), _engine("dtype")),
    "quantize": (["--quantize", "int8"], "int8", '"int8"', ("int8", "int8", "int8"), _engine("quantize")),
    "offline": (["--offline"], "yes", "true", (True, True, True), _engine("offline")),
    "max_tokens": (["--max-tokens", "9"], "7", "5", (9, 7, 5), _gen("max_tokens")),
    "temperature": (["--temperature", "0.9"], "0.7", "0.5", (0.9, 0.7, 0.5), _gen("temperature")),
    "top_p": (["--top-p", "0.9"], "0.8", "0.7", (0.9, 0.8, 0.7), _gen("top_p")),
    "top_k": (["--top-k", "9"], "7", "5", (9, 7, 5), _gen("top_k")),
    "seed": (["--seed", "3"], "2", "1", (3, 2, 1), _gen("seed")),
    "max_image_pixels": (None, "1000", "2000", (None, 1000, 2000), _pixel_limit),
}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    for name in HUB_SWITCHES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "xdg-config" / "vlmcli" / "config.toml"
    path.parent.mkdir(parents=True)
    return path


def shown(flags: list[str] | None = None) -> dict:
    result = runner.invoke(app, ["config", "--json", *(flags or [])])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["settings"]


def test_the_table_covers_every_setting():
    assert set(TABLE) == set(SPEC_BY_NAME)


@pytest.mark.parametrize("source", ["flag", "env", "file"])
@pytest.mark.parametrize("name", sorted(TABLE))
def test_config_shows_what_the_command_uses(monkeypatch, tmp_path, config_file, name, source):
    flag, env_value, toml_value, expected, observe = TABLE[name]
    if source == "flag" and flag is None:
        pytest.skip(f"{name} has no flag")
    want = expected[("flag", "env", "file").index(source)]
    flags = flag if source == "flag" else []
    if source == "env":
        monkeypatch.setenv(SPEC_BY_NAME[name].env, env_value)
    if source == "file":
        config_file.write_text(f"{name} = {toml_value}\n")
    entry = shown(flags)[name]
    assert (entry["value"], entry["source"]) == (want, source)
    named = {"flag": "--" + name.replace("_", "-"), "env": SPEC_BY_NAME[name].env, "file": str(config_file)}[source]
    assert entry["from"].startswith(named)

    fake = install_fake_engine(monkeypatch)
    result = runner.invoke(app, ["ask", *flags, str(save_photo(tmp_path / "a.jpg")), "Q?"])
    if name != "max_image_pixels":
        assert result.exit_code == 0, result.output
    assert observe(fake, result) == want


def test_flag_beats_env_beats_file_in_config_and_command(monkeypatch, tmp_path, config_file):
    config_file.write_text('model = "file/model"\nmax_tokens = 5\n')
    monkeypatch.setenv("VLM_MAX_TOKENS", "7")
    settings = shown(["--max-tokens", "9"])
    assert (settings["model"]["value"], settings["max_tokens"]["value"]) == ("file/model", 9)
    assert settings["max_tokens"]["source"] == "flag"
    fake = install_fake_engine(monkeypatch)
    assert runner.invoke(app, ["ask", "--max-tokens", "9", str(save_photo(tmp_path / "a.jpg")), "Q?"]).exit_code == 0
    assert fake.engine.config.model == "file/model" and fake.engine.calls[0][1].max_tokens == 9


# --- huggingface_hub's own offline switches -----------------------------------------------------


@pytest.mark.parametrize("switch", HUB_SWITCHES)
@pytest.mark.parametrize("flags", [[], ["--online"]])
def test_hub_offline_switch_shows_as_offline_and_is(monkeypatch, tmp_path, switch, flags):
    monkeypatch.setenv(switch, "1")
    entry = shown(flags)["offline"]
    assert entry["value"] is True and entry["source"] == "env" and entry["from"].startswith(switch)
    if flags:  # huggingface_hub stays offline whatever --online says, and the table says so
        assert "overrides flag" in entry["from"]
    text = runner.invoke(app, ["config", *flags]).stdout
    assert any(line.split()[:3] == ["offline", "true", "env"] and switch in line for line in text.splitlines())
    fake = install_fake_engine(monkeypatch)
    assert runner.invoke(app, ["ask", *flags, str(save_photo(tmp_path / "a.jpg")), "Q?"]).exit_code == 0
    assert fake.engine.config.offline is True


@pytest.mark.parametrize(
    "env",
    [{}, {"HF_HUB_OFFLINE": "1"}, {"HF_HUB_OFFLINE": "TRUE"}, {"TRANSFORMERS_OFFLINE": "yes"},
     {"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "1"}, {"HF_HUB_OFFLINE": "", "TRANSFORMERS_OFFLINE": "on"},
     {"HF_HUB_OFFLINE": "off"}],
)
def test_offline_agrees_with_huggingface_hub_itself(tmp_path, env):
    """huggingface_hub reads its switches once, at import: ask a fresh interpreter what it decided."""
    base = {k: v for k, v in os.environ.items() if k not in HUB_SWITCHES and not k.startswith("VLM_")}
    base["XDG_CONFIG_HOME"] = str(tmp_path / "none")
    code = (
        "import json, huggingface_hub.constants as c; from vlmcli.settings import resolve; "
        "s = resolve(); print(json.dumps([c.HF_HUB_OFFLINE, s.offline, str(s.origins['offline'])]))"
    )
    done = subprocess.run([sys.executable, "-c", code], env=base | env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    hub, ours, origin = json.loads(done.stdout)
    assert ours == hub
    assert origin == ("default" if not hub else f"env {'HF_HUB_OFFLINE' if env.get('HF_HUB_OFFLINE') else 'TRANSFORMERS_OFFLINE'}")


@pytest.mark.parametrize("switch", HUB_SWITCHES)
def test_hub_offline_switch_really_never_connects(monkeypatch, tmp_path, switch):
    """A hub id that is not cached: with the switch on, the real loader fails with exit 4 saying
    offline mode is on, and no connection is attempted (this module imported huggingface_hub
    before the switch was set, so only vlmcli's own setting keeps it offline here)."""
    attempts: list[str] = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args[:2]))
        raise OSError("network access attempted while offline (test guard)")

    for target, name in ((socket.socket, "connect"), (socket.socket, "connect_ex"), (socket, "create_connection"),
                         (socket, "getaddrinfo")):
        monkeypatch.setattr(target, name, refuse)
    monkeypatch.setenv(switch, "1")
    photo = str(save_photo(tmp_path / "a.jpg"))
    result = runner.invoke(app, ["ask", "-m", "vlmcli-test/not-cached", "--device", "cpu", photo, "Hi"])
    assert attempts == []
    assert result.exit_code == 4, result.output
    assert "offline mode is on" in result.stderr and len(result.stderr.splitlines()) == 1
