"""`vlm config` output, and the precedence flag > env > file > default as the engine sees it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo
from vlmcli.testing.media.video_clips import clip_set
from vlmcli.cli import app
from vlmcli.families import DEFAULT_MODEL

runner = CliRunner()


@pytest.fixture
def config_file(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    path = tmp_path / "xdg-config" / "vlmcli" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('model = "file/model"\nmax_tokens = 5\ndevice = "cpu"\n')
    return path


def test_config_text_shows_values_and_sources(monkeypatch, config_file):
    monkeypatch.setenv("VLM_MAX_TOKENS", "7")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"Config file: {config_file}"
    rows = {line.split()[0]: line.split(maxsplit=2)[1:] for line in lines[2:]}
    assert rows["model"] == ["file/model", f"file {config_file}"]
    assert rows["max_tokens"] == ["7", "env VLM_MAX_TOKENS"]
    assert rows["device"] == ["cpu", f"file {config_file}"]
    assert rows["dtype"] == ["auto", "default"]


def test_config_json(monkeypatch, config_file):
    monkeypatch.setenv("VLM_MODEL", "env/model")
    data = json.loads(runner.invoke(app, ["config", "--json"]).stdout)
    assert data["config_file"] == str(config_file) and data["config_file_found"] is True
    assert data["settings"]["model"] == {"value": "env/model", "source": "env", "from": "VLM_MODEL", "env": "VLM_MODEL"}
    assert data["settings"]["device"]["value"] == "cpu" and data["settings"]["device"]["source"] == "file"
    assert data["settings"]["seed"] == {"value": None, "source": "default", "from": "built-in", "env": "VLM_SEED"}


def test_config_without_a_file(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    result = runner.invoke(app, ["config"])
    assert "(not found)" in result.stdout.splitlines()[0] and DEFAULT_MODEL in result.stdout


def test_config_path(monkeypatch, config_file):
    assert runner.invoke(app, ["config", "--path"]).stdout == f"{config_file}\n"


@pytest.mark.parametrize(
    ("env", "flags", "model", "max_tokens"),
    [
        ({}, [], "file/model", 5),
        ({"VLM_MODEL": "env/model", "VLM_MAX_TOKENS": "7"}, [], "env/model", 7),
        ({"VLM_MODEL": "env/model", "VLM_MAX_TOKENS": "7"}, ["-m", "flag/model", "--max-tokens", "9"], "flag/model", 9),
    ],
)
def test_precedence_reaches_the_engine(monkeypatch, tmp_path, config_file, env, flags, model, max_tokens):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    fake = install_fake_engine(monkeypatch)
    photo = str(save_photo(tmp_path / "a.jpg"))
    assert runner.invoke(app, ["ask", *flags, photo, "Q?"]).exit_code == 0
    assert fake.engine.config.model == model
    assert fake.engine.calls[0][1].max_tokens == max_tokens


def test_built_in_defaults_reach_the_engine(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    fake = install_fake_engine(monkeypatch)
    runner.invoke(app, ["ask", "Q?"])
    assert fake.engine.config.model == DEFAULT_MODEL and fake.engine.calls[0][1].max_tokens == 256


def test_pixel_limit_setting_applies_to_inputs(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)
    monkeypatch.setenv("VLM_MAX_IMAGE_PIXELS", "1000")
    result = runner.invoke(app, ["ask", str(save_photo(tmp_path / "a.jpg")), "Q?"])
    assert result.exit_code == 3 and "VLM_MAX_IMAGE_PIXELS" in result.stderr


def test_out_of_range_values_name_where_they_came_from(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)
    """`VLM_MAX_TOKENS=0` said "max_tokens must be at least 1, not 0." (which variable?), and a
    seed past 64 bits was "unexpected ValueError: Overflow when unpacking long long" (exit 1)."""
    photo = save_photo(tmp_path / "p.png")
    monkeypatch.setenv("VLM_MAX_TOKENS", "0")
    result = runner.invoke(app, ["ask", str(photo), "hi"])
    assert result.exit_code == 2 and result.stderr.strip() == "Error: max_tokens must be at least 1, not 0 (from $VLM_MAX_TOKENS)."
    monkeypatch.delenv("VLM_MAX_TOKENS")
    result = runner.invoke(app, ["ask", str(photo), "hi", "--temperature", "1", "--seed", str(2**64)])
    assert result.exit_code == 2 and result.stderr.strip() == f"Error: seed must be between 0 and {2**64 - 1}, not {2**64}."


def test_sampling_flags_without_a_temperature_are_noted(monkeypatch, tmp_path):
    """`--top-p 0.5` with the default temperature 0 was silently ignored."""
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)
    photo = save_photo(tmp_path / "p.png")
    result = runner.invoke(app, ["ask", str(photo), "hi", "--top-p", "0.5", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("note: --top-p, --seed have no effect with greedy decoding (--temperature 0") == 1
    sampled = runner.invoke(app, ["ask", str(photo), "hi", "--top-p", "0.5", "--temperature", "0.7"])
    assert sampled.exit_code == 0 and "note:" not in sampled.stderr
    monkeypatch.setenv("VLM_SEED", "3")  # a default kept in the environment is not a typed flag
    assert "note:" not in runner.invoke(app, ["ask", str(photo), "hi"]).stderr


@pytest.mark.parametrize("command", ["ask", "describe", "caption-dir", "video-summarize"])
def test_a_model_typo_is_the_one_line_even_with_sampling_flags(monkeypatch, tmp_path, command):
    """caption-dir and video-summarize printed the greedy-decoding note, then the model error."""
    isolate_env(monkeypatch, tmp_path)
    photo = save_photo(tmp_path / "p.png")
    question = ["hi"] if command == "ask" else []  # video-summarize checks the model before reading its file
    args = [command, str(photo), *question, "-m", str(tmp_path / "nosuch"), "--top-p", "0.5"]
    if command == "caption-dir":
        args += ["-o", str(tmp_path / "out")]
    result = runner.invoke(app, args)
    assert result.exit_code == 4, result.output
    assert result.stderr.splitlines() == [f"Error: Model folder {tmp_path / 'nosuch'} does not exist."]


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.parametrize("command", ["ask", "describe", "caption-dir", "video-summarize"])
def test_a_gpu_this_machine_lacks_is_named_where_it_was_set(monkeypatch, config_file, tiny_checkpoint, command):
    """`VLM_DEVICE=cuda` on a laptop said "--device cuda was asked for", a flag nobody typed;
    caption-dir said it only once the whole folder had been read."""
    if _has_gpu():
        pytest.skip("this machine has a CUDA GPU")
    photo = save_photo(config_file.parent / "p.png")
    target = clip_set().motion.path if command == "video-summarize" else photo
    question = ["hi"] if command == "ask" else []
    args = [command, str(target), *question, "-m", str(tiny_checkpoint("qwen2_vl"))]
    if command == "caption-dir":
        args += ["-o", str(config_file.parent / "out")]
    monkeypatch.setenv("VLM_DEVICE", "cuda")
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        "Error: $VLM_DEVICE=cuda was asked for but no CUDA GPU is available; use --device cpu."
    ]
    monkeypatch.delenv("VLM_DEVICE")
    config_file.write_text('device = "cuda:1"\n')
    result = runner.invoke(app, args)
    assert result.stderr.splitlines() == [
        f'Error: device = "cuda:1" in {config_file} was asked for but no CUDA GPU is available; use --device cpu.'
    ]
    dry = runner.invoke(app, [*args, "--device", "cpu", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    monkeypatch.setenv("VLM_DEVICE", "cuda")  # a dry run plans for the device without using it
    planned = runner.invoke(app, [*args, "--dry-run"])  # (caption-dir's loads the model to time it)
    assert planned.exit_code == (2 if command == "caption-dir" else 0), planned.output


def test_a_revision_typed_with_a_local_folder_is_refused(monkeypatch, tmp_path, tiny_checkpoint):
    """`--revision v2` with a model folder was ignored without a word."""
    isolate_env(monkeypatch, tmp_path)
    photo, folder = save_photo(tmp_path / "p.png"), str(tiny_checkpoint("qwen2_vl"))
    result = runner.invoke(app, ["ask", str(photo), "hi", "-m", folder, "--revision", "v2"])
    assert result.exit_code == 2 and result.stderr.splitlines() == [
        f"Error: --revision v2 picks a version of a hub model, but {folder} is a local folder (one version): "
        "drop --revision, or name the model by its hub id."
    ]
    monkeypatch.setenv("VLM_REVISION", "v2")  # a default for hub models, as the config file's
    assert runner.invoke(app, ["ask", str(photo), "hi", "-m", folder, "--max-tokens", "1"]).exit_code == 0


def test_config_refuses_what_the_commands_refuse(monkeypatch, config_file):
    """`VLM_TOP_P=2 vlm config` showed 2.0 as a setting (exit 0) that every command refused."""
    monkeypatch.setenv("VLM_TOP_P", "2")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 2 and result.stderr.splitlines() == [
        "Error: top_p must be in (0, 1], not 2.0 (from $VLM_TOP_P)."
    ]
    monkeypatch.delenv("VLM_TOP_P")
    config_file.write_text("max_tokens = 0\n")
    result = runner.invoke(app, ["config", "--json"])
    assert result.exit_code == 2 and f"(from {config_file})" in result.stderr and result.stdout == ""
    located = runner.invoke(app, ["config", "--json", "--path"])
    assert json.loads(located.stdout) == {"config_file": str(config_file)}


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_a_temperature_that_is_no_number_is_refused(monkeypatch, tmp_path, value):
    """`--temperature inf` sampled every token uniformly at random (exit 0)."""
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)
    result = runner.invoke(app, ["ask", str(save_photo(tmp_path / "p.png")), "hi", "--temperature", value])
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
