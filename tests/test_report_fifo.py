"""`vlm report` opens only regular files for thumbnails: a row's file replaced by a FIFO (or
a device) since the run gets no thumbnail, instead of the report waiting for a writer forever
(README, Safety: FIFOs and devices are refused before a byte is read)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")


def test_report_gives_a_fifo_no_thumbnail_and_does_not_hang(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)
    photos, out = tmp_path / "photos", tmp_path / "captions"
    photos.mkdir()
    save_photo(photos / "a.jpg")
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    assert CliRunner().invoke(app, ["caption-dir", str(photos), "-o", str(out), "-q"]).exit_code == 9
    (photos / "broken.png").unlink()
    os.mkfifo(photos / "broken.png")  # the error row's path is now a FIFO
    page = tmp_path / "report.html"
    command = [sys.executable, "-m", "vlmcli", "report", str(out), "-o", str(page)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert result.returncode == 0, result.stderr
    text = page.read_text()
    assert text.count('<img src="data:image/jpeg;base64,') == 1 and str(photos / "broken.png") in text


def test_thumbnail_of_a_fifo_or_a_device_is_none_at_once(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    paths = [str(fifo), "/dev/zero", str(tmp_path)]  # a FIFO blocks, /dev/zero never ends, a folder
    code = f"from vlmcli.report.thumbs import thumbnail_uri; print([thumbnail_uri(p) for p in {paths!r}])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[None, None, None]", result.stderr
