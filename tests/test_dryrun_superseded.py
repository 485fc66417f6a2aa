"""`--dry-run` says how many ok rows a run would supersede (`superseded_rows`, as the run's
--json names them, and a `note:` line), and changes nothing on disk: the ok rows of keys a tar
of a folder no longer yields (an older version keyed `photos/a` what is now `photos/a.jpg`),
which a run copies to the new keys and then drops (tests/test_resume_superseded_keys.py).
The dry run counts those whose picture the plan copies to a key the shard yields now; a
picture removed from the shard keeps its row, so it is not counted. The fake engine captions."""

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
from vlmcli.testing.fakes import install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes

TAR = shutil.which("tar")
PHOTOS = [jpeg_bytes(p) for p in sample_photos()[:6]]
NAMES = ["a.jpg", "a.edited.jpg", "b.jpg", "b.v2.jpg", "c.jpg", "c.v2.jpg"]
DRY_NOTE = "note: 2 rows of keys the shard no longer uses would be replaced by rows under its new keys by a run (a dry run changes nothing)"

pytestmark = pytest.mark.skipif(TAR is None, reason="the tar tool is not installed")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)


def caption(*args: object, dry_run: bool = False) -> tuple[dict, str]:
    extra = ["--dry-run"] if dry_run else []
    result = CliRunner().invoke(app, ["caption-dir", *map(str, args), "--format", "jsonl", "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr


def tar_of_folder(tmp_path: Path, names: list[str]) -> Path:
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
    """`photos/a.jpg` keyed `photos/a`, `photos/a.edited.jpg` never read (no row)."""
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


def test_the_dry_run_counts_the_rows_a_run_would_supersede(tmp_path):
    out = tmp_path / "out"
    shard = tar_of_folder(tmp_path, NAMES)
    caption(shard, "-o", out)
    as_an_older_version_keyed_them(out)
    tar_of_folder(tmp_path, NAMES[:4])  # c.jpg and c.v2.jpg removed: photos/c keeps its row

    before = snapshot(out)
    dry, stderr = caption(shard, "-o", out, dry_run=True)
    assert snapshot(out) == before  # nothing changed on disk
    assert (dry["superseded_rows"], dry["gone_errors"]) == (2, 0)
    assert stderr.count(DRY_NOTE) == 1, stderr
    again, _ = caption(shard, "-o", out, dry_run=True)
    assert again["superseded_rows"] == 2 and snapshot(out) == before  # twice: the same

    run, _ = caption(shard, "-o", out)
    assert run["superseded_rows"] == dry["superseded_rows"]  # what the dry run said
    after, stderr = caption(shard, "-o", out, dry_run=True)
    assert after["superseded_rows"] == 0 and "new keys" not in stderr
    assert len(read_results(out)) == 5


def test_a_folder_dry_run_has_none(tmp_path):
    from vlmcli.testing.fakes import save_photo

    (tmp_path / "pics").mkdir()
    save_photo(tmp_path / "pics" / "a.png")
    dry, _ = caption(tmp_path / "pics", "-o", tmp_path / "out", dry_run=True)
    assert (dry["superseded_rows"], dry["readable_folder_errors"]) == (0, 0)
