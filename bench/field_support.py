"""What `bench/field_run.py`'s checks share: a `vlm` runner with stderr in a file, a registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.field_media import Media

ROOT = Path(__file__).resolve().parents[1]
MODEL = str(ROOT / "models" / "reference")


@dataclass
class Result:
    """One `vlm` process: exit code, stdout bytes, stderr text (read back from its file)."""

    code: int
    stdout: bytes
    stderr: str
    seconds: float

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.decode("utf-8").splitlines() if line.strip()]


class Runner:
    """Runs `vlm` like a user's shell would: a cwd, a clean environment, stderr to a file."""

    def __init__(self, work: Path, *, timing: bool = False) -> None:
        self.work = work
        self.timing = timing  # assert timings (estimate vs real run); off in CI, where machines are noisy
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def env(self, **extra: str) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("VLM_", "HF_HUB_OFFLINE"))}
        base = {
            "PYTHONPATH": str(ROOT),
            "XDG_CONFIG_HOME": str(self.work / "cfg"),
            "XDG_CACHE_HOME": str(self.work / "cache"),
            "HF_HOME": str(self.work / "hf"),
            "VLM_MODEL": MODEL,
        }
        return keep | base | extra

    def vlm(self, *args: str | os.PathLike, cwd: Path | None = None, timeout: float = 600, **env: str) -> Result:
        self.count += 1
        log = self.logs / f"{self.count:03d}.stderr"
        argv = [sys.executable, "-m", "vlmcli", *map(os.fsencode, args)]
        start = time.perf_counter()
        with open(log, "wb") as err:
            proc = subprocess.run(
                argv, cwd=cwd or self.work, env=self.env(**env), stdout=subprocess.PIPE, stderr=err,
                stdin=subprocess.DEVNULL, timeout=timeout,
            )
        return Result(proc.returncode, proc.stdout, log.read_text("utf-8", "replace"), time.perf_counter() - start)


Check = Callable[[Runner, Media], str]
CHECKS: list[tuple[str, Check]] = []


def check(title: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        CHECKS.append((title, fn))
        return fn

    return register


class Failed(AssertionError):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise Failed(message)


