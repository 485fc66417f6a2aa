"""--key-column on tars: a name the shard's keys lack is refused, as a table refuses a column
it lacks; a key without it among keys with it is keyed by `__key__` and said.

Before: `--key-column nope` on a tar keyed every item by its WebDataset key, exit 0, without
a word (a Parquet file refuses it: "--key-column 'nope' is not a column of ..."), and a rerun
with the name fixed rekeyed every row, captioning the shard again; keys lacking a field the
others had fell back silently too."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.errors import ConfigError
from vlmcli.exports.results import read_results
from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.tar_shard import tar_items
from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo

wds = pytest.importorskip("webdataset")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)


def _invoke(*args: object):
    return CliRunner().invoke(app, ["caption-dir", *map(str, args), "--json"])


def writer_shard(tmp_path, *, uids=("u0", "u1", "u2")):
    """ShardWriter's shard: k0..k2, each a photo, a `.json` (with `uid` where given: None leaves
    it out, "" is an empty one) and an `id` member."""
    photo = save_photo(tmp_path / "p.jpg", "astronaut").read_bytes()
    with wds.ShardWriter(str(tmp_path / "w-%05d.tar"), maxcount=10) as writer:
        for i, uid in enumerate(uids):
            record = {"label": f"l{i}"} | ({"uid": uid} if uid is not None else {})
            writer.write({"__key__": f"k{i}", "jpg": photo, "json": record, "id": str(100 + i)})
    return tmp_path / "w-00000.tar"


def plain_shard(tmp_path):
    """`tarfile`'s shard, as a script packs one: a.jpg + a.id, b.jpg + b.id."""
    photo = save_photo(tmp_path / "p.png", "coffee").read_bytes()
    shard = tmp_path / "plain.tar"
    with tarfile.open(shard, "w") as tar:
        for name, data in (("a.png", photo), ("a.id", b"7"), ("b.png", photo), ("b.id", b"8")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return shard


@pytest.mark.parametrize("make", [writer_shard, plain_shard])
def test_a_key_column_the_keys_lack_is_refused_naming_the_fields(tmp_path, make):
    shard = make(tmp_path)
    with pytest.raises(ConfigError, match=r"^--key-column 'nope' is not a field of .*: its first key \w+ has none"):
        next(tar_items(shard, ColumnChoice(key_column="nope")))  # before any item
    for dry in ((), ("--dry-run",)):
        result = _invoke(shard, "-o", tmp_path / "out", "--key-column", "nope", *dry)
        assert result.exit_code == 2 and result.stdout == "", result.output
        fields = "id, jpg, json, label, uid" if make is writer_shard else "id, png"
        assert result.stderr.strip() == (
            f"Error: --key-column 'nope' is not a field of {shard}: its first key {'k0' if make is writer_shard else 'a'} "
            f"has none (fields: {fields}); name a field its keys have (a member such as "
            f"{'k0' if make is writer_shard else 'a'}.id, or a field of its .json), or leave --key-column out to key "
            "items by __key__."
        )
    assert not list((tmp_path / "out").glob("part-*"))  # no row written


@pytest.mark.parametrize("make", [writer_shard, plain_shard])
def test_a_key_column_the_keys_have_keys_the_items(tmp_path, make):
    shard = make(tmp_path)
    expected = ["100", "101", "102"] if make is writer_shard else ["7", "8"]
    assert [i.key for i in tar_items(shard, ColumnChoice(key_column="id"))] == expected
    result = _invoke(shard, "-o", tmp_path / "out", "--key-column", "id")
    assert result.exit_code == 0 and "warning" not in result.stderr, result.output
    assert sorted(r["source_key"] for r in read_results(tmp_path / "out")) == expected


def test_keys_without_the_field_are_keyed_by_key_and_said(tmp_path):
    shard = writer_shard(tmp_path, uids=("u0", None, ""))
    items = list(tar_items(shard, ColumnChoice(key_column="uid")))
    assert [i.key for i in items] == ["u0", "k1", "k2"]
    assert items[-1].warnings == (
        f"{shard}: --key-column uid: 2 of 3 keys have no uid field (or an empty one) and are keyed by the WebDataset "
        "key (__key__) instead (key k1: fields id, jpg, json, label)",
    )
    result = _invoke(shard, "-o", tmp_path / "out", "--key-column", "uid")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] == 3
    assert [line for line in result.stderr.splitlines() if line.startswith("warning:")] == [f"warning: {items[-1].warnings[0]}"]
    assert sorted(r["source_key"] for r in read_results(tmp_path / "out")) == ["k1", "k2", "u0"]
    assert [i.key for i in tar_items(shard, ColumnChoice())] == ["k0", "k1", "k2"]  # no --key-column: no word
    assert not any(i.warnings for i in tar_items(shard, ColumnChoice(key_column="__key__")))


def test_a_tar_of_a_folder_has_no_field_to_key_by(tmp_path):
    folder = tmp_path / "src" / "photos"
    folder.mkdir(parents=True)
    save_photo(folder / "IMG_1.jpg")
    save_photo(folder / "IMG_1.edited.jpg", "coffee")
    shard = tmp_path / "folder.tar"
    with tarfile.open(shard, "w") as tar:
        tar.add(folder, arcname="photos")
    result = _invoke(shard, "-o", tmp_path / "out", "--key-column", "id")
    assert result.exit_code == 2 and "its first key photos/IMG_1 has none (fields: edited.jpg, jpg)" in result.stderr
