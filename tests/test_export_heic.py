"""An iPhone's HEIC pictures go into imagefolder and Parquet exports as JPEGs: copied byte for
byte, `datasets` failed on the first such row (UnidentifiedImageError) and stopped the dataset."""

from __future__ import annotations

import json

import pytest
from PIL import Image
from typer.testing import CliRunner

pillow_heif = pytest.importorskip("pillow_heif")

from vlmcli.cli import app  # noqa: E402
from vlmcli.testing.fakes import install_fake_engine, isolate_env, real_photo  # noqa: E402


@pytest.mark.parametrize("fmt", ["imagefolder", "parquet"])
def test_heic_pictures_are_exported_as_jpeg(monkeypatch, tmp_path, fmt):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)
    photos = tmp_path / "photos"
    photos.mkdir()
    pillow_heif.register_heif_opener()
    real_photo("coffee").resize((96, 64)).save(photos / "IMG_0001.heic", format="HEIF")
    real_photo("chelsea").resize((96, 64)).save(photos / "cat.jpg")
    runner = CliRunner()
    assert runner.invoke(app, ["caption-dir", str(photos), "-o", str(tmp_path / "caps"), "-q"]).exit_code == 0
    out = tmp_path / "export"
    result = runner.invoke(app, ["export", str(tmp_path / "caps"), "--to", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.output
    if fmt == "imagefolder":
        names = {json.loads(line)["file_name"] for line in (out / "metadata.jsonl").read_text().splitlines()}
        assert names == {"IMG_0001.heic.jpg", "cat.jpg"}
        with Image.open(out / "IMG_0001.heic.jpg") as picture:
            assert picture.format == "JPEG" and picture.size == (96, 64)
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(next(out.glob("*.parquet")))
        images = {row["path"]: row["bytes"] for row in table.column("image").to_pylist()}
        assert images["IMG_0001.heic.jpg"][:3] == b"\xff\xd8\xff"
