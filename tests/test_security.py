"""Safe defaults: no remote code, no pickles, no network offline, no writes outside the output
folder, and an image pixel limit that is on unless switched off."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo
from vlmcli.cli import app
from vlmcli.commands.caption_dir import EXIT_SOME_FAILED
from vlmcli.errors import UnsafeModelError

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def photo(tmp_path) -> str:
    return str(save_photo(tmp_path / "photo.jpg"))


def load(model, **kwargs):
    from vlmcli.engine import Engine, EngineConfig

    return Engine.load(EngineConfig(model=str(model), device="cpu", dtype="float32", **kwargs))


# --- remote code and pickles ------------------------------------------------------------------------


def test_safety_switches_come_only_from_the_command_line(monkeypatch, tmp_path, photo):
    fake = install_fake_engine(monkeypatch)
    monkeypatch.setenv("VLM_TRUST_REMOTE_CODE", "1")
    monkeypatch.setenv("VLM_ALLOW_PICKLE", "1")
    assert runner.invoke(app, ["ask", photo, "Q?"]).exit_code == 0
    config = fake.engine.config
    assert (config.trust_remote_code, config.allow_pickle) == (False, False)

    result = runner.invoke(app, ["ask", "--trust-remote-code", "--allow-pickle", photo, "Q?"])
    assert result.exit_code == 0
    assert (fake.engine.config.trust_remote_code, fake.engine.config.allow_pickle) == (True, True)


def test_the_config_file_cannot_switch_them_on(monkeypatch, tmp_path, photo):
    fake = install_fake_engine(monkeypatch)
    config = tmp_path / "xdg-config" / "vlmcli" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("trust_remote_code = true\nallow_pickle = true\n")
    result = runner.invoke(app, ["ask", photo, "Q?"])
    if result.exit_code == 0:  # ignored...
        assert (fake.engine.config.trust_remote_code, fake.engine.config.allow_pickle) == (False, False)
    else:  # ...or refused as an unknown setting, before any model loads
        assert result.exit_code == 2 and fake.engines == []


REMOTE_CODE = """
from pathlib import Path
Path({marker!r}).write_text("remote code ran")
"""


def test_remote_code_never_runs_without_the_flag(tiny_checkpoint, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(tiny_checkpoint("llava"), folder)
    marker = tmp_path / "PWNED"
    (folder / "evil.py").write_text(REMOTE_CODE.format(marker=str(marker)))
    for name in ("config.json", "preprocessor_config.json", "processor_config.json", "tokenizer_config.json"):
        path = folder / name
        if path.exists():
            data = json.loads(path.read_text())
            data["auto_map"] = {"AutoConfig": "evil.Config", "AutoModel": "evil.Model",
                                "AutoProcessor": "evil.Processor", "AutoImageProcessor": "evil.Processor"}  # fmt: skip
            path.write_text(json.dumps(data))
    with pytest.raises(UnsafeModelError, match="--trust-remote-code"):
        load(folder)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "weights.pth"])
def test_pickled_weights_refused_without_the_flag(tiny_checkpoint, tmp_path, name):
    folder = tmp_path / "m"
    shutil.copytree(tiny_checkpoint("llava"), folder)
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    (folder / name).write_bytes(b"\x80\x04\x95 pickled bytes that are never opened")
    with pytest.raises(UnsafeModelError, match="--allow-pickle") as err:
        load(folder)
    assert name in str(err.value)


def test_pickled_weights_load_with_the_flag(tiny_checkpoint, tmp_path):
    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "m"
    shutil.copytree(tiny_checkpoint("llava"), folder)
    (weights,) = folder.glob("*.safetensors")
    torch.save(load_file(weights), folder / "pytorch_model.bin")
    weights.unlink()
    engine = load(folder, allow_pickle=True)
    assert engine.family == "llava"


# --- offline: no connection is attempted -----------------------------------------------------------

GUARDED = r"""
import json, os, socket, sys
attempts = []

def refuse(*args, **kwargs):
    attempts.append(repr(args[:2]))
    raise OSError("network access attempted while offline (test guard)")

socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse

from typer.testing import CliRunner
from vlmcli.cli import app

photo, results = sys.argv[1], {}
common = ["--max-tokens", "2", "--device", "cpu"]
runs = {
    "flag_cached": (["ask", "--offline", "-m", "vlmcli-test/tiny-llava", photo, "Hi", *common], {}),
    "flag_missing": (["ask", "--offline", "-m", "vlmcli-test/not-cached", photo, "Hi", *common], {}),
    "env_cached": (["ask", "-m", "vlmcli-test/tiny-llava", photo, "Hi", *common], {"HF_HUB_OFFLINE": "1"}),
    "env_missing": (["ask", "-m", "vlmcli-test/not-cached", photo, "Hi", *common], {"HF_HUB_OFFLINE": "1"}),
}
for name, (args, env) in runs.items():
    os.environ.pop("HF_HUB_OFFLINE", None)
    os.environ.update(env)
    result = CliRunner().invoke(app, args)
    results[name] = [result.exit_code, result.stderr.strip()]
print(json.dumps({"results": results, "attempts": attempts}))
"""


def test_offline_never_opens_a_connection(tiny_checkpoint, tmp_path, photo):
    """HF_HOME points at a hub cache holding one tiny model; the socket module refuses to connect."""
    hf_home = tmp_path / "hf-home"
    repo = hf_home / "hub" / "models--vlmcli-test--tiny-llava"
    shutil.copytree(tiny_checkpoint("llava"), repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VLM_", "HF_", "HUGGINGFACE_"))}
    env |= {"HF_HOME": str(hf_home), "PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    done = subprocess.run([sys.executable, "-c", GUARDED, photo], cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    report = json.loads(done.stdout.decode().strip().splitlines()[-1])
    results = report["results"]
    assert report["attempts"] == []
    assert results["flag_cached"][0] == 0 and results["env_cached"][0] == 0, results
    for name in ("flag_missing", "env_missing"):
        code, stderr = results[name]
        assert code == 4 and stderr.startswith("Error: ") and len(stderr.splitlines()) == 1, results
        assert "not in the local hub cache" in stderr


# --- outputs stay in the output folder ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_outputs_never_leave_the_output_folder(monkeypatch, tmp_path, fmt):
    install_fake_engine(monkeypatch)
    work = tmp_path / "work"
    (work / "deep").mkdir(parents=True)
    save_photo(tmp_path / "outside.jpg")
    save_photo(tmp_path / "other.png", "chelsea")
    listing = work / "list.txt"
    entries = ["../outside.jpg", str(tmp_path / "outside.jpg"), "../../other.png", "../../../../../../etc/hostname", "/etc/hostname"]
    listing.write_bytes("\0".join(entries).encode())
    before = set(tmp_path.rglob("*"))
    monkeypatch.chdir(work / "deep")
    result = runner.invoke(app, ["caption-dir", "--files-from", str(listing), "../../other.png", "-o", "out", "--format", fmt, "-q"])
    assert result.exit_code == EXIT_SOME_FAILED, result.output  # /etc/hostname: not an image
    created = {p.relative_to(work / "deep") for p in set(tmp_path.rglob("*")) - before}
    assert created == {Path("out"), Path(f"out/part-00000.{fmt}"), Path("out/.vlm-run.lock")}


def test_txt_sidecars_go_only_beside_their_images(monkeypatch, tmp_path):
    """Documented behaviour of --format txt: `photo.jpg` -> `photo.txt` in the image's own folder,
    wherever that is (../ and absolute paths included); nothing is written anywhere else, and a
    caption file never replaces an image."""
    install_fake_engine(monkeypatch)
    work = tmp_path / "work"
    work.mkdir()
    save_photo(tmp_path / "outside.jpg")
    (tmp_path / "images").mkdir()
    save_photo(tmp_path / "images" / "inside.png", "chelsea")
    (tmp_path / "images" / "x.txt").write_bytes((tmp_path / "images" / "inside.png").read_bytes())  # a PNG named .txt
    before = set(tmp_path.rglob("*"))
    monkeypatch.chdir(work)
    listing = "\0".join(["../outside.jpg", str(tmp_path / "images" / "inside.png"), "../images/x.txt"])
    result = runner.invoke(app, ["caption-dir", "--files-from", "-", "--format", "txt", "-q"], input=listing.encode())
    assert result.exit_code == EXIT_SOME_FAILED, result.output  # x.txt would be its own caption file
    created = set(tmp_path.rglob("*")) - before
    assert created == {tmp_path / "outside.txt", tmp_path / "images" / "inside.txt"}
    assert (tmp_path / "images" / "x.txt").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # untouched


# --- the image pixel limit ---------------------------------------------------------------------------


def test_pixel_limit_is_on_by_default_and_configurable(monkeypatch, tmp_path):
    from PIL import Image

    from vlmcli.media import DEFAULT_MAX_PIXELS

    install_fake_engine(monkeypatch)
    big = tmp_path / "big.png"
    Image.new("RGB", (1500, 1000), "white").save(big)  # 1.5 MP
    assert DEFAULT_MAX_PIXELS == 100_000_000
    shown = json.loads(runner.invoke(app, ["config", "--json"]).stdout)
    assert json.dumps(DEFAULT_MAX_PIXELS) in json.dumps(shown)  # the default is on, and visible
    assert runner.invoke(app, ["ask", str(big), "Q?"]).exit_code == 0

    monkeypatch.setenv("VLM_MAX_IMAGE_PIXELS", "1000000")
    result = runner.invoke(app, ["ask", str(big), "Q?"])
    assert result.exit_code == 3 and "above the limit of 1 MP" in result.stderr
    assert len(result.stderr.splitlines()) == 1

    monkeypatch.delenv("VLM_MAX_IMAGE_PIXELS")
    config = tmp_path / "xdg-config" / "vlmcli" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("max_image_pixels = 1000000\n")
    assert runner.invoke(app, ["ask", str(big), "Q?"]).exit_code == 3

    monkeypatch.setenv("VLM_MAX_IMAGE_PIXELS", "0")  # 0 switches it off
    assert runner.invoke(app, ["ask", str(big), "Q?"]).exit_code == 0


def test_pixel_limit_is_checked_before_decoding(monkeypatch):
    """A 30000x30000 header is refused from the header alone: no 2.7 GB allocation."""
    import tracemalloc

    from vlmcli.testing.media.bad_inputs import bomb_png
    from vlmcli.errors import InputError
    from vlmcli.media import decode_image

    data = bomb_png()
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="above the limit"):
            decode_image(data, "bomb.png")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000
