"""`vlm caption-dir` on a real (tiny) checkpoint and real photos: rows and captions are the
engine's own, and `--engine ray` produces the same rows as the local engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import isolate_env

FAMILY = "idefics3"
NEW_TOKENS = 6
runner = CliRunner()


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    photos = sample_photos()
    for i, photo in enumerate(photos):
        photo.save(root / f"photo{i}.{'jpg' if i % 2 else 'png'}")
    (root / "again.png").write_bytes((root / "photo0.png").read_bytes())
    (root / "truncated.jpg").write_bytes((root / "photo1.jpg").read_bytes()[:4000])
    return root


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def caption(photo_dir: Path, out: Path, model: Path, *extra: str) -> list[dict]:
    import pyarrow.parquet as pq

    args = ["caption-dir", str(photo_dir), "-o", str(out), "-m", str(model), "--max-tokens", str(NEW_TOKENS), "-q", *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 9, result.output  # the truncated file
    return sorted(pq.read_table(out).to_pylist(), key=lambda r: r["path"])


def comparable(rows: list[dict]) -> list[tuple]:
    skip = {"created_at", "latency_ms"}
    return [tuple(v for k, v in r.items() if k not in skip) for r in rows]


@pytest.fixture(scope="module")
def local_rows(photo_dir, tiny_checkpoint, tmp_path_factory) -> list[dict]:
    return caption(photo_dir, tmp_path_factory.mktemp("local"), tiny_checkpoint(FAMILY), "--batch-size", "3")


def test_rows_are_the_engines_answers(local_rows, photo_dir, tiny_checkpoint):
    from vlmcli.engine import EngineConfig, GenerationConfig, Request
    from vlmcli.engine.engine import Engine
    from vlmcli.media.images import load_image

    by_name = {Path(r["path"]).name: r for r in local_rows}
    assert len(local_rows) == 8 and by_name["truncated.jpg"]["status"] == "error"
    ok = [r for r in local_rows if r["status"] == "ok"]
    assert len(ok) == 7 and by_name["again.png"]["caption"] == by_name["photo0.png"]["caption"]
    sizes = [p.size for p in sample_photos()]
    for i, size in enumerate(sizes):
        row = by_name[f"photo{i}.{'jpg' if i % 2 else 'png'}"]
        assert (row["width"], row["height"]) == size
        assert 0 < row["visual_tokens"] < row["prompt_tokens"] and 0 < row["completion_tokens"] <= NEW_TOKENS
    # the same batch through the engine directly gives the same captions (batches of 3, cheapest first)
    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(FAMILY))))
    first = sorted(ok, key=lambda r: (r["width"] * r["height"], r["key"]))
    first = [r for r in first if r["path"] != str(photo_dir / "again.png")][:3]
    requests = [Request(prompt=r["prompt"], images=(load_image(r["path"]),)) for r in first]
    results = engine.generate(requests, GenerationConfig(max_tokens=NEW_TOKENS))
    assert [r.text for r in results] == [r["caption"] for r in first]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray's own, about its own settings
def test_ray_engine_gives_the_same_rows(local_rows, photo_dir, tiny_checkpoint, tmp_path):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'vlmcli[ray]')")
    pytest.importorskip("ray.data", reason="ray[data] is not installed (pip install 'vlmcli[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    try:
        rows = caption(photo_dir, tmp_path / "ray", tiny_checkpoint(FAMILY), "--batch-size", "3", "--engine", "ray")
    finally:
        ray.shutdown()
    assert comparable(rows) == comparable(local_rows)
