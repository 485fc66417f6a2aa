"""Kill `vlm caption-dir` with SIGKILL at random moments, rerun, and find every (image,
prompt) exactly once and every shard readable, after each kill and at the end.

Two tests: `test_sigkill_at_random_moments_then_resume` uses a real tiny checkpoint (a few
kills, including during model load); `test_sigkill_at_24_random_moments_fake_engine` kills
24 times at uniformly random moments of runs that use a slowed-down fake engine, so that
many kill points (hashing, batches, shard writes, renames) are covered in a few seconds.

Speed: importing torch and transformers costs ~7 s per process on a small machine, so the
killed runs are forked from a warm launcher process that imported them once (it never
runs a torch op before forking). Each child is a separate process running exactly what
`python -m vlmcli` runs, and is killed with SIGKILL. The final, completing run is a
genuine `python -m vlmcli caption-dir` subprocess.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from vlmcli.testing import sample_photos

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ("Describe this image.", "What colours are there?")
SEED = 20261123

LAUNCHER = r"""
import json, os, sys
import torch, transformers, pyarrow.parquet, PIL.Image  # the slow imports, once
from transformers import AutoModelForImageTextToText, AutoProcessor
import vlmcli.cli, vlmcli.engine.engine
print("ready", flush=True)
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        sys.argv = ["vlm", *json.loads(line)]
        try:
            vlmcli.cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        os._exit(code)
    print(pid, flush=True)
    print(os.waitpid(pid, 0)[1], flush=True)
"""


FAKE_LAUNCHER = LAUNCHER.replace(
    "import vlmcli.cli, vlmcli.engine.engine\n",
    "import time, vlmcli.cli\n"
    "from vlmcli.commands import _runtime\n"
    "from vlmcli.testing.fakes import FakeEngine\n"
    "class Slow(FakeEngine):\n"
    "    def generate(self, requests, gen):\n"
    "        time.sleep(0.03)\n"
    "        return super().generate(requests, gen)\n"
    "_runtime.load_engine = Slow\n"
    "_runtime.check_model = lambda config, **_: None\n",
).replace(
    "import torch, transformers, pyarrow.parquet, PIL.Image",  # no torch; what a caption run imports, once
    "import pyarrow, pyarrow.parquet, pandas, pydantic, numpy, PIL.Image, vlmcli.captions.pipeline; PIL.Image.init()",
)


def shards(out: Path) -> list[Path]:
    return sorted(out.glob("*.parquet")) if out.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def check_output(out: Path) -> Counter:
    """Every completed shard reads; no (path, prompt) appears twice. Returns the counts."""
    import pyarrow.parquet as pq

    seen: Counter = Counter()
    for shard in shards(out):
        for row in pq.read_table(shard).to_pylist():  # raises if a shard were half-written
            seen[(row["path"], row["prompt"], row["status"])] += 1
    pairs = Counter((path, prompt) for path, prompt, _ in seen.elements())
    assert max(pairs.values(), default=1) == 1, [p for p, n in pairs.items() if n > 1]
    return seen


class Launcher:
    """A warm process that forks one `vlm` run per `start(args)`; `wait()` gives its wait status."""

    def __init__(self, code: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout.readline().strip() == "ready"

    def start(self, args: list[str]) -> int:
        self.proc.stdin.write(json.dumps(args) + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def wait(self) -> int:
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def kill_at_random_moment(
    launcher: Launcher,
    args: list[str],
    out: Path,
    rnd: random.Random,
    *,
    startup: bool,
    startup_s: tuple[float, float],
    more_shards: tuple[int, int],
    patience_s: float,
    jitter_s: float,
    poll_s: float,
) -> int:
    """Start one run and SIGKILL it: `startup` kills a random `startup_s` seconds in, else
    after `more_shards` (a random count) new shard files appeared plus up to `jitter_s`.
    Returns the run's wait status (it may have finished before the kill)."""
    before = set(shards(out))  # by name: a resumed run rewrites the shard of a retried error row
    pid = launcher.start(args)
    if startup:
        time.sleep(rnd.uniform(*startup_s))
    else:
        wanted, deadline = rnd.randint(*more_shards), time.monotonic() + patience_s
        while alive(pid) and len(set(shards(out)) - before) < wanted and time.monotonic() < deadline:
            time.sleep(poll_s)
        time.sleep(rnd.uniform(0.0, jitter_s))
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:  # it had finished already
        pass
    return launcher.wait()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")
def test_sigkill_at_random_moments_then_resume(tiny_checkpoint, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, photo in enumerate(sample_photos()):
        photo.save(photos / f"p{i}.jpg", quality=90)
        photo.transpose(0).save(photos / f"p{i}_mirror.png")
    (photos / "broken.jpg").write_bytes((photos / "p0.jpg").read_bytes()[:1500])
    images = sorted(str(p) for p in photos.iterdir())
    assert len(images) == 13
    out = tmp_path / "out"
    args = ["caption-dir", str(photos), "-o", str(out), "-q", "-m", str(tiny_checkpoint("idefics3"))]
    args += ["--max-tokens", "8", "--batch-size", "2", "--rows-per-file", "1"]  # a shard per row: kills land with most of the run still to do, however busy the machine
    for prompt in PROMPTS:
        args += ["-p", prompt]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLM_")}
    env |= {"PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}

    launcher = Launcher(LAUNCHER, env)
    rnd = random.Random(SEED)
    statuses = []
    try:
        # 1st kill: a random moment of start-up (hashing, model load); the others: a random
        # moment after 1-3 more shards appeared, i.e. mid-batch, mid-write or between shards.
        for attempt in range(4):
            statuses.append(
                kill_at_random_moment(
                    launcher, args, out, rnd, startup=attempt == 0, startup_s=(0.05, 0.6), more_shards=(1, 3),
                    patience_s=60, jitter_s=0.1, poll_s=0.005,
                )
            )
            check_output(out)
    finally:
        launcher.close()
    killed = [s for s in statuses if os.WIFSIGNALED(s) and os.WTERMSIG(s) == signal.SIGKILL]
    assert len(killed) >= 3, statuses

    cmd = [sys.executable, "-m", "vlmcli", *args]
    final = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert final.returncode == 9, final.stderr.decode()[-2000:]  # the broken file
    seen = check_output(out)
    assert {(p, q) for p, q, _ in seen} == {(p, q) for p in images for q in PROMPTS}
    assert {p for p, _, status in seen if status == "error"} == {str(photos / "broken.jpg")}
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]  # the last run cleaned up


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")
def test_sigkill_at_24_random_moments_fake_engine(tmp_path):
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    rnd = random.Random(SEED + 1)
    for i in range(30):
        colour = tuple(rnd.randrange(256) for _ in range(3))
        Image.new("RGB", (48 + i, 40), colour).save(photos / f"img{i:02d}.{'png' if i % 2 else 'jpg'}")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    images = sorted(str(p) for p in photos.iterdir())
    out = tmp_path / "out"
    args = ["caption-dir", str(photos), "-o", str(out), "-q", "--batch-size", "2", "--rows-per-file", "2"]
    for prompt in PROMPTS:
        args += ["-p", prompt]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLM_")}
    env |= {"PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}

    launcher = Launcher(FAKE_LAUNCHER, env)
    kills = 0
    try:
        for attempt in range(24):
            # every 4th kill: a random moment of start-up (discovery, hashing, resume); the others:
            # a random moment after 0-1 more shards appeared (mid-batch, mid-write, between shards)
            status = kill_at_random_moment(
                launcher, args, out, rnd, startup=attempt % 4 == 0, startup_s=(0.0, 0.3), more_shards=(0, 1),
                patience_s=10, jitter_s=0.08, poll_s=0.002,
            )
            kills += os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            check_output(out)  # after every kill: all shards readable, nothing twice
        final = launcher.start(args)
        status = launcher.wait()
    finally:
        launcher.close()
    assert kills >= 20, kills
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 9, (final, status)  # the broken file
    seen = check_output(out)
    assert {(p, q) for p, q, _ in seen} == {(p, q) for p in images for q in PROMPTS}
    assert {p for p, _, status in seen if status == "error"} == {str(photos / "broken.jpg")}
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


DATASET_KINDS = ("webdataset", "webdataset-gz", "img2dataset-parquet", "hf-parquet", "save_to_disk")


def write_dataset(kind: str, root: Path, photos: list) -> tuple[Path, int]:
    """(the INPUT to pass, the number of items); each kind with its broken item(s)."""
    from vlmcli.testing.media import datasets

    if kind.startswith("webdataset"):
        datasets.write_webdataset(root, photos, shards=3, gz=kind.endswith("gz"))
        return root, 3 * len(photos)
    if kind == "img2dataset-parquet":
        datasets.write_parquet_shards(root, photos, shards=3)
        return root, 3 * len(photos)  # the row of each shard img2dataset could not download gets none
    if kind == "hf-parquet":
        return datasets.write_hf_parquet(root / "train.parquet", photos), len(photos)
    return datasets.write_save_to_disk(root, photos), len(photos)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")
@pytest.mark.parametrize("kind", DATASET_KINDS)
def test_sigkill_dataset_inputs_then_resume_exactly_once(tmp_path, kind):
    """Every input kind: 6 kills at random moments (reading shards, captioning, publishing),
    then a completing run: every (item, prompt) once, the broken items as error rows."""
    from PIL import Image

    rnd = random.Random(SEED + 2)
    photos = [Image.new("RGB", (40 + i, 36), tuple(rnd.randrange(256) for _ in range(3))) for i in range(10)]
    source, items = write_dataset(kind, tmp_path / "data", photos)
    out = tmp_path / "out"
    args = ["caption-dir", str(source), "-o", str(out), "-q", "--batch-size", "2", "--rows-per-file", "2"]
    for prompt in PROMPTS:
        args += ["-p", prompt]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLM_")}
    env |= {"PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    launcher = Launcher(FAKE_LAUNCHER, env)
    kills = 0
    try:
        for attempt in range(6):
            status = kill_at_random_moment(
                launcher, args, out, rnd, startup=attempt % 3 == 0, startup_s=(0.0, 0.3), more_shards=(0, 1),
                patience_s=10, jitter_s=0.08, poll_s=0.002,
            )
            kills += os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            check_output(out)
        launcher.start(args)
        status = launcher.wait()
    finally:
        launcher.close()
    assert kills >= 4, kills
    seen = check_output(out)
    assert len({(p, q) for p, q, _ in seen}) == items * len(PROMPTS)
    errors = {p for p, _, s in seen if s == "error"}
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == (9 if errors else 0), status
    assert all("::" in p for p, _, _ in seen)
