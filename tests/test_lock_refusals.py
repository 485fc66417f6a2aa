"""A caption run refused its output folder says who holds it, spells --shard as the user
wrote it (`1/3`, not `s1of3`), and advises what fits: a sharded run refused by an unsharded
one waits for it (another --shard would not help); a duplicate of a shard may take another
shard; an unsharded run waits for the sharded runs. Records of runs long gone are not named.
(`flock` locks of two opens conflict within one process too: the holders here are in-process.)
"""

from __future__ import annotations

import os
import socket

import pytest

from vlmcli.errors import OutputError
from vlmcli.sinks.lock import FolderLock, run_in_progress

ME = f"pid {os.getpid()} on {socket.gethostname()}"


def _refused(folder, label: str = "") -> str:
    with pytest.raises(OutputError) as refused:
        FolderLock(folder, label=label).acquire()
    return str(refused.value)


def test_a_shard_refused_by_an_unsharded_run_is_told_to_wait_for_it(tmp_path):
    with FolderLock(tmp_path):
        message = _refused(tmp_path, "s1of3")
    assert f"in use by {ME}" in message and "an unsharded run: it needs the folder to itself" in message
    assert "Wait for it to finish (or stop it), then run --shard 1/3." in message
    assert "another --shard" not in message and "s1of3" not in message


def test_a_second_run_of_one_shard_may_take_another(tmp_path):
    with FolderLock(tmp_path, label="s1of3"):
        message = _refused(tmp_path, "s1of3")
    assert f"in use by {ME} (--shard 1/3), since" in message and "a run of --shard 1/3 as this one is" in message
    assert message.endswith("Wait for it to finish, or give this run another --shard.")
    assert "s1of3" not in message


def test_an_unsharded_run_refused_by_shards_waits_for_them_and_old_records_are_not_named(tmp_path):
    with FolderLock(tmp_path, label="s2of3"):  # an old run of shard 2/3: its record stays in its file
        pass
    with FolderLock(tmp_path):  # an old unsharded run: its record stays in the common file
        pass
    with FolderLock(tmp_path, label="s0of3"), FolderLock(tmp_path, label="s1of3"):
        message = _refused(tmp_path)
        assert run_in_progress(tmp_path).count("--shard") == 2
    assert message.count(ME) == 2 and "(--shard 0/3)" in message and "(--shard 1/3)" in message
    assert "2/3" not in message and "unsharded run needs the folder to itself" in message
    assert "Wait for them to finish" in message and "another --shard" not in message
    with FolderLock(tmp_path):  # an unsharded holder: the unsharded refusal names it once
        message = _refused(tmp_path)
    assert message.count(ME) == 1 and "--shard" not in message.split(".")[0]
    assert "Wait for it to finish (or stop it)." in message
    assert run_in_progress(tmp_path) is None


def test_shards_of_another_count_are_refused_and_of_the_same_count_share(tmp_path):
    """`--shard 0/2` and `--shard 0/3` at once split the inputs two ways: a walk found rows
    captioned twice. A run beside --shard runs of another count is refused, naming them."""
    with FolderLock(tmp_path, label="s0of2"):
        message = _refused(tmp_path, "s0of3")
        with FolderLock(tmp_path, label="s1of2"):  # the same count: a job array shares the folder
            pass
    assert f"in use by {ME} (--shard 0/2)" in message and "runs of --shard with another count" in message
    assert "run this one as --shard i/2, or wait for it to finish (this is --shard 0/3)." in message
    with FolderLock(tmp_path, label="s0of3"):  # alone again: it runs
        pass
