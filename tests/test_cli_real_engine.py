"""The CLI over the real engine on tiny checkpoints: same text as transformers, clean streams.

`vlm ask IMG "q" -m DIR --json` must give the text transformers' `model.generate` gives on
the processor's chat template (greedy), for every family; and in a real subprocess the
answer is the only thing on stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.testing import MODEL_TYPES, sample_photos

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "What is in this picture?"
NEW_TOKENS = 6


@pytest.fixture(scope="module")
def photo_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "coffee.jpg"
    sample_photos()[1].save(path, quality=95)
    return path


def transformers_text(folder: Path, image_path: Path) -> str:
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder, dtype="float32").eval()
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    image = Image.open(image_path).convert("RGB")
    inputs = processor(text=[prompt], images=[[image]], return_tensors="pt")
    out = model.generate(**inputs, do_sample=False, max_new_tokens=NEW_TOKENS)
    return processor.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)[0]


@pytest.mark.parametrize("family", MODEL_TYPES)
def test_ask_json_text_equals_generate(family, tiny_checkpoint, photo_path, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    folder = tiny_checkpoint(family)
    args = ["ask", str(photo_path), QUESTION, "-m", str(folder), "--max-tokens", str(NEW_TOKENS), "--json"]
    args += ["--dtype", "float32"]  # explicit: the reference is transformers in float32
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["text"] == transformers_text(folder, photo_path)
    assert payload["completion_tokens"] <= NEW_TOKENS and payload["visual_tokens"] > 0
    assert payload["images"][0]["width"] == 600 and payload["images"][0]["height"] == 400


def test_subprocess_streams_only_the_answer_on_stdout(tiny_checkpoint, photo_path, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLM_")}
    env |= {"XDG_CONFIG_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    folder = str(tiny_checkpoint("idefics3"))
    base = [sys.executable, "-m", "vlmcli", "ask", str(photo_path), QUESTION, "-m", folder, "--max-tokens", "8"]
    text = subprocess.run(base, capture_output=True, env=env, cwd=ROOT, timeout=120)
    assert text.returncode == 0, text.stderr.decode()
    as_json = subprocess.run([*base, "--json"], capture_output=True, env=env, cwd=ROOT, timeout=120)
    payload = json.loads(as_json.stdout)
    assert text.stdout.decode() == payload["text"] + "\n"
    assert b"Loading weights" not in text.stderr


def test_model_errors_are_one_line(tmp_path, photo_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    result = CliRunner().invoke(app, ["ask", str(photo_path), "q", "-m", "org/not-cached", "--offline"])
    assert result.exit_code == 4
    assert result.stderr.count("\n") == 1 and "not in the local hub cache" in result.stderr


def test_several_images_and_stdin_with_the_real_engine(tiny_checkpoint, photo_path, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLM_")}
    env |= {"XDG_CONFIG_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    second = tmp_path / "astronaut.png"
    sample_photos()[0].save(second)
    folder = str(tiny_checkpoint("qwen2_vl"))
    cmd = [sys.executable, "-m", "vlmcli", "ask", "-", str(second), "Compare.", "-m", folder, "--max-tokens", "4"]
    with open(photo_path, "rb") as stdin:
        result = subprocess.run([*cmd, "--json"], stdin=stdin, capture_output=True, env=env, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    payload = json.loads(result.stdout)
    assert payload["inputs"] == ["-", str(second)]
    assert [im["width"] for im in payload["images"]] == [600, 512]
    assert payload["visual_tokens"] == sum(im["visual_tokens"] for im in payload["images"])


def test_describe_streams_each_image_under_its_heading(tiny_checkpoint, photo_path, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    second = tmp_path / "astronaut.png"
    sample_photos()[0].save(second)
    folder = str(tiny_checkpoint("smolvlm"))
    args = ["describe", str(photo_path), str(second), "-m", folder, "--max-tokens", "4", "--detail", "brief", "-q"]  # -q: no progress lines
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index(photo_path.name) < out.index(second.name)
    assert out.count("==>") == 2 and result.stderr == ""
