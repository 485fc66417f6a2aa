"""--keep-columns on tars: a key's members are its fields (`k0.cls`, `k0.txt`, `k0.seg.txt`),
kept as webdataset's own decoders give them, and a name no key of the shard has is said.

Before: ShardWriter's `k0.cls` gave extra {"cls": null} (only `.json` fields and `txt` were
read), and `--keep-columns cls,nope` wrote {"cls": null, "nope": null}, exit 0, without a word
(a Parquet file refuses a misspelled name: "--keep-columns: lable not in ...")."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.exports.results import read_results
from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.tar_shard import tar_items
from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo

wds = pytest.importorskip("webdataset")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)


def _run(*args: object, code: int = 0) -> tuple[dict, str]:
    result = CliRunner().invoke(app, ["caption-dir", *map(str, args), "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout), result.stderr


def _shard(tmp_path):
    """ShardWriter's shard: a class, a caption, an id, a named text field, a json and an array."""
    photo = save_photo(tmp_path / "a.jpg", "astronaut").read_bytes()
    with wds.ShardWriter(str(tmp_path / "shard-%05d.tar"), maxcount=10) as writer:
        for i in range(3):
            writer.write({"__key__": f"k{i}", "jpg": photo, "cls": i, "txt": f"alt {i}", "id": str(100 + i),
                          "seg.txt": f"mask {i}", "json": {"label": f"l{i}"}, "npy": np.arange(3)})  # fmt: skip
    return tmp_path / "shard-00000.tar"


def test_kept_fields_are_the_values_webdataset_decodes(tmp_path):
    shard = _shard(tmp_path)
    keep = ("cls", "txt", "id", "seg.txt", "label", "npy")
    items = list(tar_items(shard, ColumnChoice(keep_columns=keep)))
    decoded = {s["__key__"]: s for s in wds.WebDataset(str(shard), shardshuffle=False).decode()}
    for item in items:
        sample = decoded[item.key]
        assert item.extra == {"cls": sample["cls"], "txt": sample["txt"], "id": sample["id"],
                              "seg.txt": sample["seg.txt"], "label": sample["json"]["label"], "npy": None}  # fmt: skip
    assert items[1].extra["cls"] == 1 and isinstance(items[1].extra["cls"], int) and items[1].extra["id"] == 101
    assert not any(w for i in items for w in i.warnings)
    summary, stderr = _run(shard, "-o", tmp_path / "out", "--keep-columns", ",".join(keep))
    assert summary["ok"] == 3 and "warning" not in stderr
    rows = {r["source_key"]: json.loads(r["extra"]) for r in read_results(tmp_path / "out")}
    assert rows["k2"] == {"cls": 2, "txt": "alt 2", "id": 102, "seg.txt": "mask 2", "label": "l2", "npy": None}


def test_a_key_column_can_name_a_member_field(tmp_path):
    shard = _shard(tmp_path)
    assert [i.key for i in tar_items(shard, ColumnChoice(key_column="id"))] == ["100", "101", "102"]


def test_a_name_no_key_has_is_said_once_after_the_shard(tmp_path):
    shard = _shard(tmp_path)
    summary, stderr = _run(shard, "-o", tmp_path / "out", "--keep-columns", "cls,nope")
    assert summary["ok"] == 3
    warnings = [line for line in stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: {shard}: --keep-columns nope: no key of the shard has it (3 keys read; fields: cls, id, jpg, "
        "json, label, npy, seg.txt, txt); null in every row of the shard"
    ], stderr
    rows = [json.loads(r["extra"]) for r in read_results(tmp_path / "out")]
    assert sorted(r["cls"] for r in rows) == [0, 1, 2] and all(r["nope"] is None for r in rows)
    items = list(tar_items(shard, ColumnChoice(keep_columns=("cls", "nope"))))
    assert [len(i.warnings) for i in items] == [0, 0, 1]  # on the shard's last item, once it is read


def test_a_name_some_keys_lack_is_not_warned(tmp_path):
    photo = save_photo(tmp_path / "a.jpg", "coffee").read_bytes()
    shard = tmp_path / "some.tar"
    with wds.TarWriter(str(shard)) as writer:
        writer.write({"__key__": "a", "jpg": photo, "cls": 3})
        writer.write({"__key__": "b", "jpg": photo})
    items = list(tar_items(shard, ColumnChoice(keep_columns=("cls",))))
    assert [i.extra for i in items] == [{"cls": 3}, {"cls": None}] and not any(i.warnings for i in items)
