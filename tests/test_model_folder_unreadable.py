"""Model folders, files and hub caches the user cannot read: one line naming the folder or
file and "permission denied", exit 4 (docs/exit-codes.md), never "unexpected PermissionError"
(exit 1) nor a wrong cause ("a weights file is missing", "not valid JSON ... cut short").

Permission checks run in a subprocess without root's file capabilities (setpriv drops
CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so chmod 000 binds root too); they are skipped
where that cannot be arranged. Also here: -m naming a FIFO or device, a FIFO inside a model
folder, and -m file:///path (told to drop the prefix)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vlmcli.engine import EngineConfig
from vlmcli.engine.loader import check_model
from vlmcli.engine.source import ModelSource
from vlmcli.engine.weights_files import weights_failure
from vlmcli.errors import ModelError, ModelNotFoundError
from vlmcli.testing.fakes import save_photo
from vlmcli.testing.hub_cache import COMMIT, put_in_hub_cache

DROP = "-dac_override,-dac_read_search"
PERMISSION = "permission denied"

CHECK_EACH = """
import json, sys
from pathlib import Path
from vlmcli.engine import EngineConfig
from vlmcli.engine.loader import check_model
from vlmcli.errors import VlmError
model, locked = sys.argv[1], sys.argv[2:]
out = {}
for name in locked:
    path = Path(name)
    mode = path.stat().st_mode
    path.chmod(0)
    try:
        check_model(EngineConfig(model=model, offline=True))
        out[name] = [0, "passed"]
    except VlmError as e:
        out[name] = [e.exit_code, str(e)]
    except Exception as e:
        out[name] = [1, f"unexpected {type(e).__name__}: {e}"]
    finally:
        path.chmod(mode)
print(json.dumps(out))
"""


def unprivileged(argv: list[str]) -> list[str]:
    """`argv` run so that file permissions bind (as root: without the DAC capabilities)."""
    if os.geteuid() != 0:
        return argv
    return ["setpriv", f"--bounding-set={DROP}", f"--inh-caps={DROP}", *argv]


@pytest.fixture(scope="module")
def denied(tmp_path_factory) -> None:
    """Skip unless a mode-000 file really cannot be read by `unprivileged` commands."""
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: chmod 000 does not stop reads")
    probe = tmp_path_factory.mktemp("probe") / "f"
    probe.write_text("x")
    probe.chmod(0)
    try:
        result = subprocess.run(unprivileged(["cat", str(probe)]), capture_output=True, timeout=30)
    finally:
        probe.chmod(0o644)
    if result.returncode == 0:
        pytest.skip("chmod 000 does not stop reads here (capabilities could not be dropped)")


@pytest.fixture
def model(tiny_checkpoint, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_checkpoint("qwen2_vl"), tmp_path / "model"))


def check_each(model: str, *locked: Path, env: dict | None = None) -> dict[str, list]:
    """{path: [exit code, message]} of `check_model(model)` with each of `locked` at mode 000 in turn."""
    result = run_code(CHECK_EACH, model, *locked, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def run_code(code: str, *args: object, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -c code args...`, unprivileged."""
    argv = unprivileged([sys.executable, "-c", code, *map(str, args)])
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)


def vlm(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        unprivileged([sys.executable, "-m", "vlmcli", *args]), capture_output=True, text=True, timeout=300,
        cwd=cwd, env=env or _env(cwd),
    )


def _env(tmp: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VLM_", "HF_"))}
    return env | {"XDG_CONFIG_HOME": str(tmp / "xdg"), "HF_HUB_CACHE": str(tmp / "hub"), "HF_HUB_OFFLINE": "1"} | extra


def one_line(result: subprocess.CompletedProcess, code: int = ModelError.exit_code) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code and len(lines) == 1, (result.returncode, result.stderr)
    assert "unexpected" not in lines[0]
    return lines[0]


@pytest.mark.parametrize("command", ["describe", "ask", "caption-dir", "video-summarize"])
def test_an_unreadable_model_folder_is_one_line_in_every_command(command, model, tmp_path, denied):
    """Was "Error: unexpected PermissionError: [Errno 13] ... config.json", exit 1."""
    from vlmcli.testing.media.video_clips import render_indexed, write_video

    photos = tmp_path / "photos"
    photos.mkdir()
    save_photo(photos / "a.jpg")
    inputs = {
        "describe": ["photos/a.jpg"],
        "ask": ["photos/a.jpg", "What?"],
        "caption-dir": ["photos", "-o", "out"],
        "video-summarize": [str(write_video(tmp_path / "clip.mp4", render_indexed(8), fps=4))],
    }[command]
    model.chmod(0)
    try:
        line = one_line(vlm(command, "-m", "./model", *inputs, cwd=tmp_path))
    finally:
        model.chmod(0o755)
    assert line == (
        f"Error: ./model could not be loaded: the model folder {model}: permission denied; give your user read "
        f"access (e.g. `chmod -R u+rX {model}` if you own it)."
    )


FILES = (
    "config.json", "chat_template.jinja", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
    "processor_config.json", "preprocessor_config.json", "generation_config.json", "special_tokens_map.json",
)


def test_each_unreadable_file_is_named(model, denied):
    """chat_template.jinja was "unexpected PermissionError" (exit 1), model.safetensors "a weights
    file is missing", tokenizer.json "not valid JSON ... cut short", generation_config.json
    silently skipped (its stop tokens with it)."""
    for name in FILES:
        if not (model / name).exists():  # not every family writes each
            (model / name).write_text("{}")
    found = check_each(str(model), *(model / name for name in FILES))
    for name in FILES:
        code, message = found[str(model / name)]
        assert code == 4 and f"{model / name}: {PERMISSION}" in message, (name, message)


def test_a_folder_listable_but_not_searchable_or_the_reverse(model, denied):
    """x without r read as "has no model weights"; r without x was "unexpected PermissionError"."""
    for mode in (0o111, 0o444):
        code = CHECK_EACH.replace("path.chmod(0)", f"path.chmod({mode})")
        result = run_code(code, model, model)
        assert result.returncode == 0, result.stderr
        exit_code, message = json.loads(result.stdout)[str(model)]
        assert exit_code == 4 and f"the model folder {model}: {PERMISSION}" in message, (oct(mode), message)


def test_an_unreadable_adapter_config_is_named(model, denied):
    """A PEFT adapter folder's adapter_config.json is read too (to tell an adapter from a model)."""
    (model / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "org/base"}))
    [(code, message)] = check_each(str(model), model / "adapter_config.json").values()
    assert code == 4 and f"adapter_config.json: {PERMISSION}" in message


def test_a_folder_on_the_way_that_cannot_be_searched(model, tmp_path, denied):
    """`-m locked/model` with locked/ at mode 000: Path.is_dir() raised "unexpected PermissionError"."""
    locked = tmp_path / "locked"
    locked.mkdir()
    shutil.move(model, locked / "model")
    [(code, message)] = check_each(str(locked / "model"), locked).values()
    assert code == 4
    assert message.startswith(f"Model folder {locked / 'model'} cannot be reached: {locked}: {PERMISSION};")


def test_the_chat_template_check_names_an_unreadable_template(model, denied):
    """chat_template.py read the .jinja unguarded (the loader's own check now runs first)."""
    code = (
        "import sys; from pathlib import Path; from vlmcli.engine.chat_template import check_chat_template\n"
        "from vlmcli.errors import ModelError\n"
        "try: check_chat_template(Path(sys.argv[1]), 'm')\n"
        "except ModelError as e: print(e)\n"
    )
    (model / "chat_template.jinja").chmod(0)
    try:
        result = run_code(code, model)
    finally:
        (model / "chat_template.jinja").chmod(0o644)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{model / 'chat_template.jinja'}: {PERMISSION}")


def test_broken_json_says_permission_denied_not_cut_short(model, denied):
    code = (
        "import sys; from pathlib import Path; from vlmcli.engine.loader import broken_json\n"
        "print(broken_json(Path(sys.argv[1])))\n"
    )
    (model / "tokenizer.json").chmod(0)
    try:
        result = run_code(code, model)
    finally:
        (model / "tokenizer.json").chmod(0o644)
    assert result.returncode == 0, result.stderr
    assert f"tokenizer.json: {PERMISSION}" in result.stdout and "cut short" not in result.stdout


def test_a_weights_load_denied_is_not_called_missing(tmp_path):
    source = ModelSource(folder=tmp_path, model_id="./m", revision=None)
    err = PermissionError(13, "Permission denied", str(tmp_path / "model.safetensors"))
    message = weights_failure(source, err)
    assert f"model.safetensors: {PERMISSION}" in message and "missing" not in message


@pytest.fixture
def hub(model, tmp_path) -> Path:
    root = tmp_path / "hub"
    put_in_hub_cache(root, "acme/tiny", model)
    return root


@pytest.mark.parametrize("part", ["", "models--acme--tiny", "models--acme--tiny/refs", "models--acme--tiny/snapshots"])
def test_an_unreadable_hub_cache_entry_is_named(hub, tmp_path, part, denied):
    """Was "unexpected PermissionError: ... models--acme--tiny/refs" (offline, or with no network)."""
    [(code, message)] = check_each("acme/tiny", hub / part, env=_env(tmp_path)).values()
    assert code == 4
    assert message.startswith(f"Model acme/tiny cannot be read from the hub cache: {hub / part}: {PERMISSION};")


def test_an_unreadable_snapshot_file_is_named(hub, tmp_path, denied):
    snapshot = hub / "models--acme--tiny" / "snapshots" / COMMIT
    [(code, message)] = check_each("acme/tiny", snapshot / "tokenizer.json", env=_env(tmp_path)).values()
    assert code == 4 and f"{snapshot / 'tokenizer.json'}: {PERMISSION}" in message
    assert f"chmod -R u+rX {hub / 'models--acme--tiny'}" in message  # chmod -R does not follow the links into blobs/


def models_json(tmp_path: Path, locked: Path) -> subprocess.CompletedProcess:
    locked.chmod(0)
    try:
        return vlm("models", "--all", "--json", cwd=tmp_path)
    finally:
        locked.chmod(0o755 if locked.is_dir() else 0o644)


@pytest.mark.parametrize(
    ("part", "problem"),
    [
        ("models--acme--tiny", "permission denied: snapshots"),
        (f"models--acme--tiny/snapshots/{COMMIT}", "permission denied: the folder"),
        (f"models--acme--tiny/snapshots/{COMMIT}/chat_template.jinja", "permission denied: chat_template.jinja"),
        (f"models--acme--tiny/snapshots/{COMMIT}/model.safetensors", "permission denied: model.safetensors"),
    ],
)
def test_vlm_models_lists_an_unreadable_cached_model_with_its_problem(hub, tmp_path, part, problem, denied):
    """`vlm models` crashed ("unexpected PermissionError") on an unreadable entry, snapshot or template."""
    result = models_json(tmp_path, hub / part)
    assert result.returncode == 0, result.stderr
    [cached] = json.loads(result.stdout)["cached"]
    assert cached["model"] == "acme/tiny" and cached["problem"] == problem and not cached["runnable"]


def test_vlm_models_with_an_unreadable_cache_is_one_line(hub, tmp_path, denied):
    """Was "unexpected PermissionError" (and a glob of it finds nothing: "none cached")."""
    line = one_line(models_json(tmp_path, hub))
    assert line.startswith(f"Error: The hub cache {hub} cannot be read: {PERMISSION}")


def test_vlm_models_names_a_fifo_in_a_snapshot_and_does_not_wait_on_it(hub, tmp_path):
    snapshot = hub / "models--acme--tiny" / "snapshots" / COMMIT
    (snapshot / "config.json").unlink()
    os.mkfifo(snapshot / "config.json")
    result = subprocess.run(
        [sys.executable, "-m", "vlmcli", "models", "--all", "--json"], capture_output=True, text=True, timeout=120,
        env=_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    [cached] = json.loads(result.stdout)["cached"]
    assert cached["problem"] == "not a regular file (a FIFO, socket or device): config.json"


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_model_given_as_a_fifo_or_device(kind, tmp_path):
    """-m ./pipe waited forever (its first bytes read to tell a GGUF file)."""
    path = "/dev/null" if kind == "device" else str(tmp_path / "pipe")
    if kind == "fifo":
        os.mkfifo(path)
    code = (
        "import sys; from vlmcli.engine import EngineConfig; from vlmcli.engine.loader import check_model\n"
        "from vlmcli.errors import ModelError\n"
        "try: check_model(EngineConfig(model=sys.argv[1]))\n"
        "except ModelError as e: print(e)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, timeout=120)
    what = "a FIFO (named pipe)" if kind == "fifo" else "a device"
    assert result.stdout.strip() == f"{path} is {what}, not a model folder or hub id.", result.stderr


def test_a_fifo_inside_a_model_folder_is_refused(model):
    """A load would block on it (or read a device as empty)."""
    os.mkfifo(model / "tokenizer.model")
    with pytest.raises(ModelError, match=r"tokenizer\.model is not a regular file \(a FIFO, socket or device\)"):
        check_model(EngineConfig(model=str(model)))


def test_a_file_url_is_told_to_drop_its_prefix(model, tmp_path):
    """Was "Model folder file:///... does not exist", with no hint."""
    with pytest.raises(ModelNotFoundError) as caught:
        check_model(EngineConfig(model=f"file://{model}"))
    assert str(caught.value) == (
        f"file://{model} is a file:// address; --model takes a folder path or a hub id: drop the file:// prefix: "
        f"--model {model}."
    )
    with pytest.raises(ModelNotFoundError, match=r"--model /no/such \(no folder /no/such exists either\)"):
        check_model(EngineConfig(model="file:///no/such"))


def test_a_download_into_an_unwritable_cache_is_not_a_network_error(monkeypatch, tmp_path):
    """Was "could not be fetched from the hub (PermissionError); check the network"."""
    import huggingface_hub

    from vlmcli.engine.source import resolve_source

    def denied_download(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "hub" / "models--acme--tiny"))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", denied_download)
    with pytest.raises(ModelError) as caught:
        resolve_source("acme/tiny", revision=None, offline=True, cache_dir=tmp_path / "hub", allow_pickle=False)
    entry = tmp_path / "hub" / "models--acme--tiny"
    assert str(caught.value).startswith(f"Model acme/tiny could not be fetched into the hub cache: {entry}: {PERMISSION};")
