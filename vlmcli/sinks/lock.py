"""One writer per output folder (per `--shard` label), held by the kernel.

    with FolderLock(folder, label="s2of8"):
        ...  # write shards

Two files in the folder, locked with `flock` and never deleted:

    .vlm-run.lock           every run takes it: an unsharded run exclusively (it may
                            rewrite any shard), a `--shard` run shared
    .vlm-run-<label>.lock   a `--shard` run takes its label's file exclusively

So an unsharded run excludes every other run, two runs of one label exclude each other,
and runs of different labels (a job array) share the folder. A lock belongs to the open
file: when its process dies, SIGKILL included, the kernel releases it, so a killed run's
lock is taken over by the next run with no stale-lock guessing. Taking the lock also checks
that a new file can be made in the folder (an earlier run's folder made read-only still
opens its lock file for writing), so such a folder is refused before any work. Each holder writes
`{"host", "pid", "label", "since"}` into its file; a refused run names the holders.
(`flock` on network file systems depends on the mount; local disks are exact.)
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import time
from pathlib import Path

from vlmcli.errors import OutputError

COMMON = ".vlm-run.lock"
LOCK_NAME = re.compile(r"\.vlm-run(-.+)?\.lock")
"""The lock files of a run (`COMMON`, and one per --shard label)."""


def _label_file(label: str) -> str:
    return f".vlm-run-{label}.lock"


def shard_spelling(label: str) -> str:
    """A --shard label as the user wrote it: "s1of3" -> "1/3"."""
    match = re.fullmatch(r"s(\d+)of(\d+)", label)
    return f"{match[1]}/{match[2]}" if match else label


def _shard_count(label: str) -> int | None:
    """N of a --shard label "s<i>of<N>"; None for another label."""
    match = re.fullmatch(r"s(\d+)of(\d+)", label)
    return int(match[2]) if match else None


def _holder_text(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return None
    if not data.get("pid"):
        return None
    label = f" (--shard {shard_spelling(data['label'])})" if data.get("label") else ""
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(data.get("since", 0)))
    return f"pid {data['pid']} on {data.get('host', '?')}{label}, since {since}"


def _held(path: Path) -> bool:
    """Whether a run holds the lock file `path` now (shared or not); a file's record outlives its run."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing drops the lock this took, if it took it
    return False


def _held_shards(folder: Path) -> list[Path]:
    """The --shard lock files that runs hold now."""
    return sorted(p for p in Path(folder).glob(".vlm-run-*.lock") if LOCK_NAME.fullmatch(p.name) and _held(p))


def _names(shards: list[Path]) -> str:
    return "; ".join(h for p in shards if (h := _holder_text(p))) or "runs with --shard"


def run_in_progress(folder: Path) -> str | None:
    """Who is captioning into `folder` now ("pid 123 on host, since ..."), or None: a reader
    (export, report) takes the rows published so far, and should say so."""
    path = Path(folder) / COMMON
    if not _held(path):  # no run holds it, shared or not (or none ever locked it)
        return None
    shards = _held_shards(folder)  # sharded runs hold it shared: its record is an older run's
    return _names(shards) if shards else _holder_text(path) or "another run"


class FolderLock:
    def __init__(self, folder: Path, *, label: str = "") -> None:
        self.folder = Path(folder)
        self.label = label
        self._fds: list[int] = []

    def acquire(self) -> None:
        if self._fds:
            return
        try:
            self._take(COMMON, exclusive=not self.label)
            if self.label:
                self._take(_label_file(self.label), exclusive=True)
                self._check_counts()
            self._check_writable()
        except BaseException:
            self.release()
            raise

    def _take(self, name: str, *, exclusive: bool) -> None:
        path = self.folder / name
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # a read-only disk or folder: nothing could be written there
            raise OutputError(f"Cannot write to the output folder {self.folder}: {exc.strerror or exc}.") from None
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputError(self._refusal(name)) from None
        self._fds.append(fd)
        if exclusive:  # a shared holder would overwrite another's record
            record = {"host": socket.gethostname(), "pid": os.getpid(), "label": self.label, "since": time.time()}
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(record).encode(), 0)
            except OSError as exc:  # a full disk: the file that could not be written, as a shard's failure names it
                raise OutputError(f"Cannot write {path}: {exc.strerror or exc}.") from None

    def _check_counts(self) -> None:
        """Refuse to run beside a --shard run of another count: `0/2` and `0/3` split the inputs
        otherwise, so some would be captioned twice (a walk found duplicate rows)."""
        count = _shard_count(self.label)
        others = [p for p in _held_shards(self.folder) if p.name != _label_file(self.label)]
        clash = [p for p in others if _shard_count(p.name[len(".vlm-run-") : -len(".lock")]) not in (None, count)]
        if count is None or not clash:
            return
        theirs = _shard_count(clash[0].name[len(".vlm-run-") : -len(".lock")])
        raise OutputError(
            f"{self.folder} is in use by {_names(clash)}: runs of --shard with another count split the inputs "
            f"otherwise, so some would be captioned twice; run this one as --shard i/{theirs}, or wait for "
            f"{'it' if len(clash) == 1 else 'them'} to finish (this is --shard {shard_spelling(self.label)})."
        )

    def _check_writable(self) -> None:
        """A folder that takes no new file is refused now, not at the first shard: an earlier
        run's folder made read-only (`chmod 555`) still lets its lock file be opened for writing."""
        probe = self.folder / f".vlm-write-check.{os.getpid()}.tmp"  # hidden *.tmp: readers never see it
        try:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
            probe.unlink()
        except OSError as exc:
            raise OutputError(f"Cannot write to the output folder {self.folder}: {exc.strerror or exc}.") from None

    def _refusal(self, name: str) -> str:
        """Why this run cannot have the folder, naming the runs that hold it now (`name`: the
        lock file it was refused), and what to do: a duplicate of this --shard may make way for
        another shard; an unsharded run, or one refused by it, can only wait."""
        mine = f"--shard {shard_spelling(self.label)}" if self.label else ""
        if name != COMMON:  # another run of this shard
            who = _holder_text(self.folder / name)
            who = f"{who}, a run of {mine} as this one is" if who else f"another run of {mine}"
            return (
                f"{self.folder} is in use by {who}. Wait for it to finish, "
                f"or give this run another --shard."
            )
        shards = _held_shards(self.folder)
        if self.label or not shards:  # held exclusively: an unsharded run
            who = _holder_text(self.folder / COMMON)
            then = f", then run {mine}" if mine else ""
            return (
                f"{self.folder} is in use by {who + ', ' if who else ''}an unsharded run: it needs the folder to itself. "
                f"Wait for it to finish (or stop it){then}."
            )
        who = _names(shards)
        one = len(shards) == 1
        return (
            f"{self.folder} is in use by {who}. Wait for {'it' if one else 'them'} to finish: this unsharded run "
            f"needs the folder to itself (runs with --shard share it)."
        )

    def release(self) -> None:
        for fd in reversed(self._fds):
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        self._fds = []

    def __enter__(self) -> "FolderLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def remove_if_only_locks(folder: Path) -> None:
    """Remove `folder` when it holds nothing but run locks (nothing was written there)."""
    try:
        entries = list(folder.iterdir())
        if any(not LOCK_NAME.fullmatch(entry.name) for entry in entries):
            return
        for entry in entries:
            entry.unlink(missing_ok=True)
        folder.rmdir()
    except OSError:  # another run took the folder meanwhile, or it went: leave it as it is
        pass
