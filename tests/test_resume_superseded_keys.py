"""Ok rows of dataset keys an older version made are replaced, not kept beside the new ones:
a tar of a folder (`tar cf x.tar photos`) holding `a.jpg` beside `a.edited.jpg` is now read
picture by picture, keyed by member name (`photos/a.jpg`, `photos/a.edited.jpg`); before, key
`photos/a` was its first picture alone (`tar_fields.py`). A rerun into an old output copies each picture's row to its new key
(no model call) and, once that row is written, drops the row under the old key, so the
output holds one row per picture; a picture removed from the shard keeps its row, and
--dry-run changes nothing.

The older output is made by a run whose rows' keys are then rewritten to the old spelling.
Real runs of `vlm caption-dir` on a tiny Qwen2-VL checkpoint."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.exports.results import read_results
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes

TAR = shutil.which("tar")
PHOTOS = [jpeg_bytes(p) for p in sample_photos()[:6]]
NAMES = ["a.jpg", "a.edited.jpg", "b.jpg", "b.v2.jpg", "c.jpg", "c.v2.jpg"]
NOTE = "note: 2 rows of keys the shard no longer uses were replaced by rows under its new keys"

pytestmark = pytest.mark.skipif(TAR is None, reason="the tar tool is not installed")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def model(tiny_checkpoint) -> Path:
    return tiny_checkpoint("qwen2_vl")


def caption(model: Path, *args: object, dry_run: bool = False) -> tuple[dict, str]:
    """(--json summary, stderr) of `vlm caption-dir ARGS` on the tiny checkpoint (jsonl shards)."""
    extra = ["--dry-run"] if dry_run else []
    result = CliRunner().invoke(
        app,
        ["caption-dir", *map(str, args), "-m", str(model), "--max-tokens", "4", "--format", "jsonl", "--json", *extra],
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr


def tar_of_folder(tmp_path: Path, names: list[str]) -> Path:
    """photos.tar, made as `tar cf photos.tar photos` makes it: members `photos/<name>`."""
    folder = tmp_path / "src" / "photos"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_bytes(PHOTOS[NAMES.index(name)])
    shard = tmp_path / "photos.tar"
    shard.unlink(missing_ok=True)
    subprocess.run([TAR, "-cf", str(shard), "-C", str(folder.parent), "photos"], check=True)
    return shard


def as_an_older_version_keyed_them(out: Path) -> None:
    """Rewrite the output's rows to those an older version wrote: `photos/a.jpg` keyed `photos/a`,
    `photos/a.edited.jpg` never read (no row)."""
    for shard in sorted(out.glob("*part-*.jsonl")):
        rows = [json.loads(line) for line in shard.read_text().splitlines() if line.strip()]
        rows = [row for row in rows if row["source_key"].count(".") == 1]
        for row in rows:
            old = row["source_key"].rsplit(".", 1)[0]
            row["path"] = row["path"][: -len(row["source_key"])] + old
            row["source_key"] = old
        shard.write_text("".join(json.dumps(row) + "\n" for row in rows))


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def keys(out: Path) -> list[tuple[str, str]]:
    return sorted((r["source_key"], r["status"]) for r in read_results(out))


def test_rows_of_old_keys_are_replaced_by_rows_under_the_new_keys(model, tmp_path):
    out = tmp_path / "out"
    shard = tar_of_folder(tmp_path, NAMES)
    first, _ = caption(model, shard, "-o", out)
    assert (first["ok"], first["error"]) == (6, 0)
    assert sorted(r["source_key"] for r in read_results(out)) == sorted(f"photos/{n}" for n in NAMES)
    as_an_older_version_keyed_them(out)
    assert keys(out) == [("photos/a", "ok"), ("photos/b", "ok"), ("photos/c", "ok")]
    captions = {r["key"]: r["caption"] for r in read_results(out)}
    tar_of_folder(tmp_path, NAMES[:4])  # c.jpg and c.v2.jpg removed from the shard

    before = snapshot(out)
    caption(model, shard, "-o", out, dry_run=True)
    assert snapshot(out) == before  # a dry run changes nothing

    again, stderr = caption(model, shard, "-o", out)
    assert (again["copied"], again["superseded_rows"], again["gone_errors"]) == (2, 2, 0), stderr
    assert stderr.count(NOTE) == 1, stderr
    assert keys(out) == [
        ("photos/a.edited.jpg", "ok"), ("photos/a.jpg", "ok"), ("photos/b.jpg", "ok"), ("photos/b.v2.jpg", "ok"),
        ("photos/c", "ok"),  # its picture is gone from the shard: its caption stays
    ]  # fmt: skip
    rows = read_results(out)
    assert len({r["key"] for r in rows}) == len(rows)  # one row per picture
    assert all(captions[r["key"]] == r["caption"] for r in rows if r["key"] in captions)  # copied, none lost

    third, stderr = caption(model, shard, "-o", out)
    assert (third["skipped"], third["superseded_rows"], third["copied"]) == (4, 0, 0) and "new keys" not in stderr
    assert len(read_results(out)) == 5
