"""`--engine ray` checks where it would run before any long work, in seconds:

- a `RAY_ADDRESS` where something that is not Ray listens (a port that accepts and says
  nothing, a web server) hung `vlm caption-dir` for minutes (ray.init's GCS client retries
  about 40 s per attempt, twenty times): now one line, exit 2, within the probe's limit;
- the address was checked after every input was read and hashed: now before (a big folder
  took minutes to fail), for dry runs too;
- `--dry-run --engine ray` said nothing of Ray: it says what would start (local Ray or the
  cluster joined, actors, calls, GPUs per actor), without starting Ray.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo

pytest.importorskip("ray.data", reason="ray[data] is not installed (pip install 'vlmcli[ray]')")

runner = CliRunner()
SETTINGS_FRAME = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


class Listener:
    """A local TCP port whose every connection gets `answer` (None: accepted, never answered)."""

    def __init__(self, answer: bytes | None) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.answer = answer
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.held.append(connection)
            if self.answer is not None:
                connection.sendall(self.answer)
                if not self.answer.startswith(b"\x00"):  # a web server answers and hangs up
                    connection.close()

    def close(self) -> None:
        for connection in self.held:
            connection.close()
        self.server.close()


@pytest.fixture
def listener():
    made: list[Listener] = []

    def make(answer: bytes | None) -> Listener:
        made.append(Listener(answer))
        return made[-1]

    yield make
    for each in made:
        each.close()


def photos(folder: Path, count: int) -> Path:
    folder.mkdir()
    names = ("astronaut", "chelsea", "coffee", "camera", "rocket")
    for i in range(count):
        save_photo(folder / f"p{i}.jpg", names[i % len(names)])
    return folder


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (None, "it accepted the connection but did not answer within 5 s"),
        (b"HTTP/1.0 400 Bad request\r\n\r\n", "a web server answered, as the Ray dashboard's port 8265 does"),
    ],
    ids=["silent", "web-server"],
)
def test_an_address_where_no_ray_answers_is_one_line_in_seconds(listener, tmp_path, answer, why):
    """Run as a user runs it, in its own process (a hang is then a failed test, not a stuck suite)."""
    port = listener(answer).port
    folder = photos(tmp_path / "p", 1)
    env = {**os.environ, "RAY_ADDRESS": f"127.0.0.1:{port}", "VLMCLI_FAKE_ENGINE": "{}"}
    command = [sys.executable, "-c", "from vlmcli.testing.fakes import main_with_fake; main_with_fake()"]
    started = time.monotonic()
    try:
        done = subprocess.run(
            [*command, "caption-dir", str(folder), "-o", str(tmp_path / "o"), "--engine", "ray"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("vlm caption-dir --engine ray still waited on the address after 60 s")
    assert time.monotonic() - started < 30
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"Error: RAY_ADDRESS=127.0.0.1:{port} is not a Ray head ({why}); fix the address (the host:port "
        "`ray start --head` printed; its GCS port is 6379 unless --port said otherwise), or unset RAY_ADDRESS to run a local Ray."
    ]
    assert done.stdout == ""


def test_the_address_is_checked_before_any_input_is_read(monkeypatch, tmp_path):
    """The address was checked when Ray started, after discovery and hashing: a wrong one
    failed after minutes on a big folder. Nothing may be read before it is checked, in a
    run or a dry run."""
    import vlmcli.captions.entry as entry

    def reading(*args, **kwargs):
        raise AssertionError("inputs were read before RAY_ADDRESS was checked")

    install_fake_engine(monkeypatch)
    monkeypatch.setattr(entry, "dataset_inputs", reading)  # the first look at the inputs, of a run and a dry run
    port = closed_port()
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    folder = photos(tmp_path / "p", 1)
    for extra in ([], ["--dry-run"]):
        result = runner.invoke(app, ["caption-dir", str(folder), "-o", str(tmp_path / "o"), "--engine", "ray", *extra])
        assert result.exit_code == 2, (extra, result.output)
        assert result.stderr.strip().splitlines() == [
            f"Error: Cannot reach the Ray cluster at RAY_ADDRESS=127.0.0.1:{port} (Connection refused); start it "
            "(ray start --head), fix the address, or unset RAY_ADDRESS to run a local Ray."
        ]


def test_dry_run_says_what_ray_would_start_without_starting_it(monkeypatch, tmp_path, listener):
    import ray

    def init(*args, **kwargs):
        raise AssertionError("a dry run started Ray")

    monkeypatch.setattr(ray, "init", init)
    install_fake_engine(monkeypatch)
    folder = photos(tmp_path / "p", 5)
    args = ["caption-dir", str(folder), "-o", str(tmp_path / "o"), "--engine", "ray", "--batch-size", "1", "--dry-run"]

    result = runner.invoke(app, [*args, "--concurrency", "3", "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["batches"] == 5
    assert report["ray"] == {
        "address": None, "concurrency": 3, "actors": 3, "calls": 3, "batches_per_call": 2, "gpus_per_actor": 0,
    }  # fmt: skip

    head = listener(SETTINGS_FRAME)  # answers as an HTTP/2 (gRPC) server does: as a Ray head's GCS
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{head.port}")
    result = runner.invoke(app, [*args, "--concurrency", "8"])
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("Ray: ")]
    assert line == (
        f"Ray: would join the Ray cluster at RAY_ADDRESS=127.0.0.1:{head.port}; 5 actors (--concurrency 8), "
        "1 GPU each if the cluster has one, else none (--device auto), in 5 calls of up to 1 planned batch; "
        "the estimated time below is one engine's, on this machine."
    )

    local = runner.invoke(app, [*args[:4], "--batch-size", "1", "--dry-run", "--json"])  # the local engine: no `ray`
    assert local.exit_code == 0 and json.loads(local.stdout)["ray"] is None


def test_a_head_that_refuses_the_driver_names_token_authentication(monkeypatch, listener):
    """Ray 2.60 turns token authentication on for a head wherever a token exists: a driver
    without RAY_AUTH_MODE=token was refused ("Failed to connect to Ray cluster at ...") and
    told to fix an address that was right."""
    import vlmcli.captions.ray_backend as ray_backend
    from vlmcli.errors import ConfigError

    def init(**kwargs):
        raise ConnectionError("Failed to connect to Ray cluster at 127.0.0.1:6379\nmore of Ray's text")

    monkeypatch.setattr(ray_backend, "import_ray", lambda: SimpleNamespace(is_initialized=lambda: False, init=init))
    monkeypatch.setattr(ray_backend, "_quiet", lambda ray: None)
    head = listener(SETTINGS_FRAME)
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{head.port}")
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    with pytest.raises(ConfigError) as refused:
        ray_backend.start_ray()
    assert str(refused.value) == (
        f"Cannot start or join the Ray cluster at RAY_ADDRESS=127.0.0.1:{head.port} (Failed to connect to Ray cluster at "
        "127.0.0.1:6379); a head with token authentication (Ray's default where a token exists) is joined with "
        "RAY_AUTH_MODE=token and its token (~/.ray/auth_token, RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH); else fix the "
        "address (host:port of a head started with `ray start --head`), or unset RAY_ADDRESS to run a local Ray."
    )
    monkeypatch.setenv("RAY_AUTH_MODE", "token")  # already set: not the cause, not named
    with pytest.raises(ConfigError, match=r"\); fix the address \(host:port"):
        ray_backend.start_ray()
