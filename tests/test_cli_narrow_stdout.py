"""A stdout that cannot encode every character: `vlm describe *.jpg > out.txt` on Windows
(cp1252), a latin-1 locale, an ascii pipe. A caption with CJK text or an emoji crashed the
run ("unexpected UnicodeEncodeError", exit 1) after the model had done the work. Now text
output writes such characters as backslash escapes, `--json` as JSON `\\u` escapes (ASCII
JSON that parses back to the same text), and undecodable file-name bytes still go out as
the original bytes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlmcli.testing.fakes import save_photo

ROOT = Path(__file__).resolve().parents[1]
FAKE = "from vlmcli.testing.fakes import main_with_fake; main_with_fake()"
QUESTION = "中文 😀 café?"


def run(tmp_path, args, encoding: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLM_")}
    env |= {"PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "HF_HUB_CACHE": str(tmp_path / "hub"),
            "PYTHONIOENCODING": encoding, "VLMCLI_FAKE_ENGINE": "{}"}
    return subprocess.run([sys.executable, "-c", FAKE, *args], cwd=tmp_path, env=env, capture_output=True, timeout=60)


@pytest.mark.parametrize("encoding", ["ascii", "cp1252", "latin-1"])
def test_text_answers_are_escaped_not_fatal(tmp_path, encoding):
    photo = save_photo(tmp_path / "photo.jpg")
    result = run(tmp_path, ["ask", str(photo), QUESTION], encoding)
    assert result.returncode == 0, result.stderr.decode()
    text = result.stdout.decode(encoding)
    assert "\\u4e2d\\u6587" in text and "\\U0001f600" in text
    assert ("café" if encoding != "ascii" else "caf\\xe9") in text


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
def test_json_stays_json(tmp_path, encoding):
    photo = save_photo(tmp_path / "photo.jpg")
    result = run(tmp_path, ["ask", str(photo), QUESTION, "--json"], encoding)
    assert result.returncode == 0, result.stderr.decode()
    record = json.loads(result.stdout.decode("ascii"))
    assert record["text"].endswith(QUESTION)


def test_undecodable_file_names_still_come_back_as_bytes(tmp_path):
    name = b"caf\xe9.jpg"  # latin-1 bytes: not UTF-8
    photo = save_photo(tmp_path / os.fsdecode(name))
    result = run(tmp_path, ["describe", os.fsdecode(name), str(photo)], "ascii")
    assert result.returncode == 0, result.stderr.decode()
    assert b"==> caf\xe9.jpg <==" in result.stdout
