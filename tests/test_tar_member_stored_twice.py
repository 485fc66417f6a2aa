"""A tar member stored twice (`tar -r` appended it again, or tar was given its name twice) is
read as `tar -x` reads it: the last copy wins, under the key's plain name, with one warning.

Before: the first copy was captioned and the second became an error row keyed `k1#dup1`
("appears twice in the shard"), retried on every rerun, so the run exited 9 forever; and
the picture captioned was not the one `tar -x` gives."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.exports.results import read_results
from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.counts import tar_keys
from vlmcli.inputs.tar_shard import tar_items
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes

PHOTOS = sample_photos()
TAR = shutil.which("tar")
FIRST, SECOND, OTHER = (jpeg_bytes(p) for p in PHOTOS[:3])


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _run(*args: object) -> tuple[int, dict, str]:
    result = CliRunner().invoke(app, ["caption-dir", *map(str, args), "--json"])
    return result.exit_code, json.loads(result.stdout), result.stderr


def _check_last_copy_wins(shard, out, *, key: str, txt_key: str | None = None) -> None:
    code, summary, stderr = _run(shard, "-o", out, *(["--keep-columns", "txt"] if txt_key else []))
    assert (code, summary["ok"], summary["error"]) == (0, 2, 0), stderr
    warning = f"warning: {shard}: member {key}.jpg is stored 2 times; the last copy is read (as tar -x does)"
    assert stderr.count(warning) == 1, stderr
    rows = {r["source_key"]: r for r in read_results(out)}
    assert sorted(rows) == sorted([key, key.replace("k1", "k2")]) and all(r["status"] == "ok" for r in rows.values())
    assert rows[key]["key"] == _sha(SECOND)  # the copy `tar -x` leaves on disk
    if txt_key:
        assert json.loads(rows[key]["extra"]) == {"txt": "one"}  # the key's other member, stored once
    code, again, _ = _run(shard, "-o", out)
    assert (code, again["ok"], again["error"], again["skipped"]) == (0, 0, 0, 2)  # resume redoes nothing
    assert len(read_results(out)) == 2
    assert tar_keys(shard) == 2  # the dry run counts what the run writes


@pytest.mark.parametrize("gz", [False, True], ids=["tar", "tar.gz"])
def test_the_last_copy_of_a_member_written_by_tarfile_is_captioned(tmp_path, gz):
    shard = tmp_path / ("appended.tar.gz" if gz else "appended.tar")
    with tarfile.open(shard, "w:gz" if gz else "w") as tar:  # as `tar -r` leaves it
        _add(tar, "k1.jpg", FIRST)
        _add(tar, "k1.txt", b"one")
        _add(tar, "k2.jpg", OTHER)
        _add(tar, "k1.jpg", SECOND)
    (item, other) = tar_items(shard, ColumnChoice())
    assert (item.key, item.data, item.error, other.key) == ("k1", SECOND, None, "k2")
    _check_last_copy_wins(shard, tmp_path / "out", key="k1", txt_key="txt")


@pytest.mark.skipif(TAR is None, reason="the tar tool is not installed")
@pytest.mark.parametrize("gz", [False, True], ids=["tar", "tar.gz"])
def test_a_member_appended_by_tar_r_reads_as_tar_x_does(tmp_path, gz):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "k1.jpg").write_bytes(FIRST)
    (folder / "k2.jpg").write_bytes(OTHER)
    shard = tmp_path / "photos.tar"
    subprocess.run([TAR, "-cf", str(shard), "-C", str(folder), "k1.jpg", "k2.jpg"], check=True)
    (folder / "k1.jpg").write_bytes(SECOND)  # edited, then appended again
    subprocess.run([TAR, "-rf", str(shard), "-C", str(folder), "k1.jpg"], check=True)
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run([TAR, "-xf", str(shard), "-C", str(unpacked)], check=True)
    assert (unpacked / "k1.jpg").read_bytes() == SECOND
    if gz:  # `tar -r` cannot append to a compressed tar: compress it afterwards
        shard = shard.with_suffix(".tar.gz")
        shard.write_bytes(gzip.compress((tmp_path / "photos.tar").read_bytes()))
    _check_last_copy_wins(shard, tmp_path / "out", key="k1")


def test_each_copy_of_a_damaged_stream_is_still_kept_apart():
    """A compressed tar cut short cannot be listed to find the last copy: it is read as a
    stream, where a member seen again starts the key's next copy (the first is captioned)."""
    from vlmcli.inputs.tar_members import reads_by_key

    names = ["k1.jpg", "k2.jpg", "k1.jpg"]
    assert reads_by_key(names, compressed=False) and reads_by_key(names, compressed=True)
    assert not reads_by_key(["k1.jpg", "k2.jpg"], compressed=True)  # grouped as written: streamed
    assert not reads_by_key(None, compressed=False)
