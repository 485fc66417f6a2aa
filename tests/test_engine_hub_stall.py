"""A hub that accepts the connection and never answers (a captive portal, a firewall that
drops packets, a dead proxy): `vlm ask -m org/name` waited forever, silently, even with the
model in the cache. Now the request times out and the cached snapshot is used."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from vlmcli.testing.fakes import save_photo
from vlmcli.testing.hub_cache import put_in_hub_cache

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def silent_hub():
    """A TCP server that accepts connections and reads, but never replies."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    for conn in held:
        conn.close()
    server.close()


def test_a_cached_model_runs_when_the_hub_never_answers(silent_hub, tiny_checkpoint, tmp_path):
    put_in_hub_cache(tmp_path / "hub", "acme/tiny", tiny_checkpoint("idefics3"))
    photo = save_photo(tmp_path / "cat.jpg", "chelsea")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VLM_", "HF_", "TRANSFORMERS_"))}
    env |= {
        "PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "HF_HUB_CACHE": str(tmp_path / "hub"),
        "HF_ENDPOINT": silent_hub, "HF_HUB_DOWNLOAD_TIMEOUT": "2", "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "vlmcli", "ask", "-m", "acme/tiny", str(photo), "Hi", "--max-tokens", "2", "--json"],
        env=env, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"text"' in done.stdout and time.monotonic() - started < 200
